package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the zectre-auth binary, built once by the first test that
// starts an instance.
var (
	binDir    string
	buildOnce sync.Once
	binary    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// zectreAuth builds ./cmd/zectre-auth as the release does (no race
// detector, which the service's own tests cover) and returns its path.
func zectreAuth(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "zectre-smoke-bin"); buildErr != nil {
			return
		}
		binary = filepath.Join(binDir, "zectre-auth")
		if out, err := exec.Command("go", "build", "-o", binary, "../zectre-auth").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building zectre-auth: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// instance is a zectre-auth process serving on a free loopback port.
type instance struct {
	base    string
	cmd     *exec.Cmd
	mu      sync.Mutex
	log     bytes.Buffer
	done    chan error
	stopped bool
}

// startInstance runs `zectre-auth serve` in an empty temporary directory
// (so the embedded default keeps its data there) with only environ set
// besides its listeners, and stops it when the test ends.
func startInstance(t *testing.T, environ ...string) *instance {
	t.Helper()
	cmd := exec.Command(zectreAuth(t), "serve")
	cmd.Dir = t.TempDir()
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir}, environ...)
	cmd.Env = append(cmd.Env, "ZECTRE_AUTH_LISTEN=127.0.0.1:0", "ZECTRE_AUTH_ADMIN_LISTEN=127.0.0.1:0")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			in.mu.Lock()
			in.log.Write(sc.Bytes())
			in.log.WriteByte('\n')
			in.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				addr <- rec.Addr
			}
		}
		in.done <- cmd.Wait()
	}()
	t.Cleanup(func() { in.stop(t) })
	select {
	case a := <-addr:
		in.base = "http://" + a
	case err := <-in.done:
		in.stopped = true
		t.Fatalf("zectre-auth exited before listening: %v\n%s", err, in.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("zectre-auth did not start within 30s\n%s", in.logs())
	}
	return in
}

// stop ends the process with SIGINT (no shutdown delay), which also
// writes its buffered audit lines, and expects a clean exit.
// Stopping twice is harmless.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	if in.stopped {
		return
	}
	in.stopped = true
	in.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-in.done:
		in.done <- err
		if err != nil {
			t.Errorf("zectre-auth exit after SIGINT: %v\n%s", err, in.logs())
		}
	case <-time.After(15 * time.Second):
		in.cmd.Process.Kill()
		<-in.done
		t.Errorf("zectre-auth did not exit within 15s of SIGINT\n%s", in.logs())
	}
}

func (in *instance) logs() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.log.String()
}
