package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the zectre-auth binary built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zectre-auth-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "zectre-auth")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building zectre-auth: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		problems, summary := checkRunLogs()
		fmt.Fprintln(os.Stderr, summary)
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "  ", p)
		}
		if len(problems) > 0 {
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a clean environment for the binary: only what the test sets.
func env(kv ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, kv...)
}

// command runs the binary to completion.
func command(t *testing.T, dir string, environ []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir, cmd.Env = dir, environ
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// server is a running zectre-auth process.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	// admin is the base URL of the admin listener (metrics).
	admin string
	mu    sync.Mutex
	log   bytes.Buffer
	done  chan error
}

// start runs `zectre-auth serve` on a free loopback port (and its admin
// listener on another, unless environ names one) and waits until it listens.
func start(t *testing.T, dir string, environ []string) *server {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Dir = dir
	// The last of duplicate variables wins, so environ may override admin.
	cmd.Env = append(append([]string{"ZECTRE_AUTH_ADMIN_LISTEN=127.0.0.1:0"}, environ...), "ZECTRE_AUTH_LISTEN=127.0.0.1:0")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, done: make(chan error, 1)}
	addr, admin := make(chan string, 1), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			s.mu.Lock()
			s.log.Write(line)
			s.log.WriteByte('\n')
			s.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil {
				switch rec.Msg {
				case "listening":
					addr <- rec.Addr
				case "admin listening":
					admin <- rec.Addr
				}
			}
		}
		s.done <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		s.base = "http://" + a
		s.admin = "http://" + <-admin // logged before "listening"
		noteServer(s)
	case err := <-s.done:
		t.Fatalf("zectre-auth exited before listening: %v\n%s", err, s.logs())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("zectre-auth did not start\n%s", s.logs())
	}
	// A server still running at the end is stopped cleanly, so that its
	// buffered audit lines reach the log the run's log check reads.
	t.Cleanup(func() {
		if cmd.ProcessState != nil {
			return
		}
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

func (s *server) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// stop sends SIGINT, which skips shutdown_delay, and expects a clean exit
// (shutdown_test.go covers SIGTERM and its delay).
func (s *server) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		s.t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Fatalf("exit after SIGINT: %v\n%s", err, s.logs())
		}
	case <-time.After(30 * time.Second):
		s.t.Fatal("no exit within 30s of SIGINT")
	}
}

// call sends a JSON request and decodes the JSON answer.
func (s *server) call(method, path, body string, headers ...string) (int, map[string]any) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	noteBody([]byte(body))
	noteHeaders(headers...)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	noteBody(raw)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			s.t.Fatalf("non-JSON answer %d %q", resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// account signs up, logs in and creates a key; it returns token and key.
func (s *server) account(email string) (string, string) {
	s.t.Helper()
	body := fmt.Sprintf(`{"email":%q,"password":"hunter2abc"}`, email)
	if st, b := s.call("POST", "/api/v1/auth/signup", body); st != 201 {
		s.t.Fatalf("signup: %d %v", st, b)
	}
	st, b := s.call("POST", "/api/v1/auth/login", body)
	if st != 200 {
		s.t.Fatalf("login: %d %v", st, b)
	}
	token := b["token"].(string)
	st, b = s.call("POST", "/api/v1/api-keys", `{"name":"ci"}`, "Authorization", "Bearer "+token)
	if st != 201 {
		s.t.Fatalf("create key: %d %v", st, b)
	}
	return token, b["key"].(string)
}

func (s *server) whoami(headers ...string) int {
	s.t.Helper()
	st, _ := s.call("GET", "/api/v1/user", "", headers...)
	return st
}

// lockedBuffer collects a process's or a server's output while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
