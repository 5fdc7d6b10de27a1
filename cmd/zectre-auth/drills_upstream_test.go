package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDrillUpstreamDownOrSlow: with upstream_timeout = "500ms", an upstream
// that is stopped (connection refused), one that resets every connection and
// one that accepts and never answers get 502 UPSTREAM_UNAVAILABLE, 502 and
// 504 UPSTREAM_TIMEOUT, for every request of a burst; forward-auth is not
// affected. Afterwards the process holds no more file descriptors or
// goroutines than before the bursts, and it closed every connection it
// opened to the stalled upstream. The stopped upstream, started again on
// its port, is served again.
func TestDrillUpstreamDownOrSlow(t *testing.T) {
	app := newSwitchableUpstream(t)
	stalled := newStallingUpstream(t)
	reset := newResettingUpstream(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "zectre-auth.toml")
	toml := fmt.Sprintf(`upstream = %q
upstream_timeout = "500ms"
default_auth = "required"

[[routes]]
path = "/stall/**"
auth = "required"
upstream = %q

[[routes]]
path = "/reset/**"
auth = "required"
upstream = %q
`, app.url(), "http://"+stalled.addr(), "http://"+reset.Addr().String())
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, dir, env("ZECTRE_AUTH_CONFIG="+cfg))
	_, key := s.account("drill-upstream@example.com")
	cred := []string{"X-API-Key", key}
	noteHeaders(cred...)

	const concurrency = 8
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
	// The same concurrency as the bursts below, so that the baseline holds
	// the connections and server goroutines such a burst needs.
	if got := burst(client, 200, concurrency, s.base+"/apps/1", cred); got["200"] != 200 {
		t.Fatalf("warm-up: %v", got)
	}
	client.CloseIdleConnections()
	fds, goroutines := s.settled(0, 0, 5*time.Second)
	t.Logf("baseline: %d open file descriptors, %d goroutines", fds, goroutines)

	app.stop()
	check := func(what string, got map[string]int, want string, n int) {
		t.Helper()
		t.Logf("%s: %v", what, got)
		if got[want] != n {
			t.Errorf("%s: %v, want %d × %s", what, got, n, want)
		}
	}
	check("upstream stopped", burst(client, 200, concurrency, s.base+"/apps/1", cred), "502 UPSTREAM_UNAVAILABLE", 200)
	check("upstream resetting", burst(client, 100, concurrency, s.base+"/reset/1", cred), "502 UPSTREAM_UNAVAILABLE", 100)
	if got := burst(client, 20, 1, s.base+"/api/v1/auth/verify", cred); got["200"] != 20 {
		t.Errorf("forward-auth with the upstream down: %v", got)
	}
	// The stalled burst takes 40 / 8 × 500 ms; the process is sampled
	// meanwhile, for the report.
	stallDone := make(chan map[string]int, 1)
	go func() { stallDone <- burst(client, 40, concurrency, s.base+"/stall/1", cred) }()
	var stallResult map[string]int
	peakFDs, peakGoroutines, peakStalled := 0, 0, int64(0)
	for stallResult == nil {
		select {
		case stallResult = <-stallDone:
		case <-time.After(100 * time.Millisecond):
			peakFDs, peakGoroutines = max(peakFDs, s.openFDs()), max(peakGoroutines, s.goroutines())
			peakStalled = max(peakStalled, stalled.accepted.Load()-stalled.closed.Load())
		}
	}
	check("upstream stalled", stallResult, "504 UPSTREAM_TIMEOUT", 40)
	t.Logf("during the stalled burst, at most: %d connections open to the stalled upstream, %d open file descriptors, %d goroutines",
		peakStalled, peakFDs, peakGoroutines)

	// The connections to the stalled upstream were closed by zectre-auth:
	// the stalled upstream never closes one itself.
	until(t, 10*time.Second, "connections to the stalled upstream closed", func() bool {
		return stalled.closed.Load() == stalled.accepted.Load()
	})
	t.Logf("stalled upstream: %d connections accepted, %d closed by zectre-auth", stalled.accepted.Load(), stalled.closed.Load())
	client.CloseIdleConnections()
	// A few goroutines may linger while the server's idle workers and the
	// runtime's pollers wind down, more on a loaded machine; a leak grows
	// with the bursts (hundreds of requests), far past this slack.
	afterFDs, afterGoroutines := s.settled(fds+2, goroutines+8, 15*time.Second)
	t.Logf("after the bursts: %d open file descriptors, %d goroutines", afterFDs, afterGoroutines)

	app.start()
	if got := burst(client, 20, concurrency, s.base+"/apps/1", cred); got["200"] != 20 {
		t.Fatalf("upstream started again: %v", got)
	}
	s.stop()
}

// settled waits until the server holds at most maxFDs file descriptors and
// maxGoroutines goroutines (0: until two readings 200 ms apart agree),
// failing after limit, and returns the last reading.
func (s *server) settled(maxFDs, maxGoroutines int, limit time.Duration) (int, int) {
	s.t.Helper()
	start := time.Now()
	fds, gs := s.openFDs(), s.goroutines()
	for {
		time.Sleep(200 * time.Millisecond)
		f, g := s.openFDs(), s.goroutines()
		if maxFDs == 0 && f == fds && g == gs {
			return f, g
		}
		if maxFDs > 0 && f <= maxFDs && g <= maxGoroutines {
			return f, g
		}
		fds, gs = f, g
		if time.Since(start) > limit {
			if maxFDs == 0 {
				return f, g // still moving; take the last reading as the baseline
			}
			s.t.Fatalf("after %s: %d open file descriptors (at most %d wanted), %d goroutines (at most %d wanted)",
				limit, f, maxFDs, g, maxGoroutines)
		}
	}
}

// burst sends n GET requests, concurrency at a time, and counts the
// answers by status and error code ("502 UPSTREAM_UNAVAILABLE", "200",
// "error" for a transport error).
func burst(client *http.Client, n, concurrency int, url string, cred []string) map[string]int {
	var mu sync.Mutex
	got := map[string]int{}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set(cred[0], cred[1])
				outcome := "error"
				if resp, err := client.Do(req); err == nil {
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					outcome = fmt.Sprint(resp.StatusCode)
					var body struct{ Error struct{ Code string } }
					if resp.StatusCode != 200 && json.Unmarshal(raw, &body) == nil {
						outcome += " " + body.Error.Code
					}
				}
				mu.Lock()
				got[outcome]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return got
}

// switchableUpstream is an HTTP upstream that can be stopped (its port then
// refuses connections) and started again on the same port.
type switchableUpstream struct {
	t    *testing.T
	host string
	mu   sync.Mutex
	srv  *http.Server
}

func newSwitchableUpstream(t *testing.T) *switchableUpstream {
	u := &switchableUpstream{t: t, host: "127.0.0.1:0"}
	u.start()
	t.Cleanup(u.stop)
	return u
}

func (u *switchableUpstream) url() string { return "http://" + u.host }

func (u *switchableUpstream) start() {
	u.mu.Lock()
	defer u.mu.Unlock()
	ln, err := net.Listen("tcp", u.host)
	if err != nil {
		u.t.Fatalf("upstream: %v", err)
	}
	u.host = ln.Addr().String()
	u.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "upstream ok")
	})}
	go u.srv.Serve(ln)
}

// stop closes the listener and every connection, idle or not.
func (u *switchableUpstream) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.srv != nil {
		u.srv.Close()
		u.srv = nil
	}
}

// stallingUpstream accepts connections, reads what comes and never answers
// nor closes: only the other side can end a connection.
type stallingUpstream struct {
	ln       net.Listener
	accepted atomic.Int64
	closed   atomic.Int64 // by the peer
	open     sync.Map     // net.Conn → struct{}, closed at the end of the test
}

func newStallingUpstream(t *testing.T) *stallingUpstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &stallingUpstream{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.accepted.Add(1)
			u.open.Store(c, struct{}{})
			go func() {
				io.Copy(io.Discard, c) // until the peer closes
				u.closed.Add(1)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		u.open.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
	})
	return u
}

func (u *stallingUpstream) addr() string { return u.ln.Addr().String() }

// newResettingUpstream accepts connections and resets each at once.
func newResettingUpstream(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln
}
