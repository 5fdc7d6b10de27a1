package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdown sends SIGTERM while a slow request is in flight:
// readiness fails first, the service keeps serving through shutdown_delay,
// the slow request completes, the key use of the last requests is flushed,
// and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "done")
	}))
	defer slow.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "zectre-auth.toml")
	toml := fmt.Sprintf("upstream = %q\nshutdown_delay = \"1s\"\n", slow.URL)
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	environ := env("ZECTRE_AUTH_CONFIG=" + cfg)
	s := start(t, dir, environ)
	token, key := s.account("drain@example.com")

	inFlight := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", s.base+"/slow", nil)
		req.Header.Set("X-API-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			inFlight <- -1
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		inFlight <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond) // the slow request reaches the upstream

	signalled := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Readiness fails first, while requests are still served.
	until(t, 2*time.Second, "/readyz 503 after SIGTERM", func() bool {
		st, b := s.call("GET", "/readyz", "")
		return st == 503 && b != nil
	})
	if st := s.whoami("X-API-Key", key); st != 200 {
		t.Fatalf("a request during shutdown_delay: %d", st)
	}
	close(release)
	if st := <-inFlight; st != 200 {
		t.Fatalf("the in-flight request ended with %d", st)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, s.logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
	if took := time.Since(signalled); took < time.Second {
		t.Errorf("exited %s after SIGTERM, before shutdown_delay (1s) was over", took)
	}
	if !strings.Contains(s.logs(), `"msg":"stopped"`) {
		t.Fatalf("no stop line:\n%s", s.logs())
	}

	// The key use of the last requests was flushed on the way out.
	s = start(t, dir, environ)
	st, list := s.call("GET", "/api/v1/api-keys", "", "Authorization", "Bearer "+token)
	if st != 200 {
		t.Fatalf("list keys: %d", st)
	}
	if used := list["data"].([]any)[0].(map[string]any)["last_used_at"]; used == nil {
		t.Fatal("last_used_at was not flushed at shutdown")
	}
	s.stop()
}

// TestShutdownUnderLoad: clients keep sending until /readyz fails, as a
// load balancer would; SIGTERM under that load loses no request.
func TestShutdownUnderLoad(t *testing.T) {
	up := newRecorder(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "zectre-auth.toml")
	toml := fmt.Sprintf("upstream = %q\nshutdown_delay = \"1s\"\n", up.srv.URL)
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, dir, env("ZECTRE_AUTH_CONFIG="+cfg))
	_, key := s.account("load@example.com")

	var inRotation atomic.Bool
	inRotation.Store(true)
	// The "load balancer": takes the replica out once readiness fails.
	go func() {
		for inRotation.Load() {
			if st, _ := s.call("GET", "/readyz", ""); st != 200 {
				inRotation.Store(false)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range 8 {
		wg.Go(func() {
			for inRotation.Load() {
				req, _ := http.NewRequest("GET", s.base+"/apps/1", nil)
				req.Header.Set("X-API-Key", key)
				resp, err := client.Do(req)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					t.Logf("request failed: %v", err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					t.Logf("request answered %d", resp.StatusCode)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, s.logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
	t.Logf("%d requests under SIGTERM, %d failed", sent.Load(), failed.Load())
	if failed.Load() != 0 || sent.Load() < 100 {
		t.Fatalf("%d of %d requests failed", failed.Load(), sent.Load())
	}
}
