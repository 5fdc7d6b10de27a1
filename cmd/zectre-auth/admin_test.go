package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/metrics"
)

func startTestAdmin(t *testing.T, listen string, pprofOn bool) (*adminServer, *lockedBuffer) {
	t.Helper()
	cfg := config.Default()
	cfg.AdminListen, cfg.AdminPprof = listen, pprofOn
	logs := &lockedBuffer{}
	a, err := startAdmin(cfg, metrics.New("admin-test"), slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatalf("startAdmin: %v", err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	return a, logs
}

func adminGet(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// /metrics is always served; the profiler only when admin_pprof is on.
func TestAdminListener(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pprofOn bool
		pprof   int // status of every profiler path
	}{
		{"pprof off", false, http.StatusNotFound},
		{"pprof on", true, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, logs := startTestAdmin(t, "127.0.0.1:0", tc.pprofOn)
			base := "http://" + a.Addr()
			status, body := adminGet(t, "GET", base+"/metrics")
			if status != http.StatusOK || !strings.Contains(body, `zectre_auth_build_info{go_version="`) ||
				!strings.Contains(body, `version="admin-test"`) {
				t.Fatalf("GET /metrics: %d\n%s", status, body)
			}
			if status, _ := adminGet(t, "POST", base+"/metrics"); status != http.StatusMethodNotAllowed {
				t.Errorf("POST /metrics: %d, want 405", status)
			}
			if status, _ := adminGet(t, "GET", base+"/"); status != http.StatusNotFound {
				t.Errorf("GET /: %d, want 404", status)
			}
			for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap?debug=1",
				"/debug/pprof/goroutine?debug=1", "/debug/pprof/profile?seconds=1", "/debug/pprof/symbol"} {
				if status, _ := adminGet(t, "GET", base+p); status != tc.pprof {
					t.Errorf("GET %s: %d, want %d", p, status, tc.pprof)
				}
			}
			if !strings.Contains(logs.String(), `"msg":"admin listening"`) {
				t.Errorf("no start line in the log:\n%s", logs)
			}
			if strings.Contains(logs.String(), "non-loopback") {
				t.Errorf("a loopback listener was warned about:\n%s", logs)
			}

			if err := a.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if _, err := http.Get(base + "/metrics"); err == nil {
				t.Fatal("the admin listener still answers after Close")
			}
		})
	}
}

// The profiler on an address other hosts can reach is allowed, with a
// warning in the log.
func TestAdminPprofOffLoopbackWarns(t *testing.T) {
	_, logs := startTestAdmin(t, "0.0.0.0:0", true)
	if !strings.Contains(logs.String(), "non-loopback") {
		t.Fatalf("no warning for the profiler on 0.0.0.0:\n%s", logs)
	}
}

// A taken port stops the start with the listen error.
func TestAdminListenTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := config.Default()
	cfg.AdminListen = ln.Addr().String()
	if a, err := startAdmin(cfg, metrics.New("v"), slog.New(slog.DiscardHandler)); err == nil {
		a.Close(context.Background())
		t.Fatal("startAdmin on a taken port succeeded")
	}
}

// Close waits for a scrape in progress, and cuts a long profile when its
// context ends.
func TestAdminCloseCutsLongProfile(t *testing.T) {
	a, _ := startTestAdmin(t, "127.0.0.1:0", true)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		resp, err := http.Get("http://" + a.Addr() + "/debug/pprof/profile?seconds=30")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	<-started
	time.Sleep(200 * time.Millisecond) // let the profile start
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	a.Close(ctx)
	if took := time.Since(begin); took > 5*time.Second {
		t.Fatalf("Close took %v with a 100ms context", took)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the profile request was not cut")
	}
}
