package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/config"
)

// upstreamLog is an Observer that records each upstream's exchanges.
type upstreamLog struct {
	mu    sync.Mutex
	hosts []string
	seen  map[string][]UpstreamResult
	took  map[string][]time.Duration
}

func (x *upstreamLog) Upstream(host string) func(UpstreamResult, time.Duration) {
	x.mu.Lock()
	x.hosts = append(x.hosts, host)
	x.mu.Unlock()
	return func(r UpstreamResult, d time.Duration) {
		x.mu.Lock()
		x.seen[host] = append(x.seen[host], r)
		x.took[host] = append(x.took[host], d)
		x.mu.Unlock()
	}
}

// Each exchange is reported once, with its upstream's result: answered (a
// 500 included), refused, stalled; a request that never reaches an upstream
// is not reported.
func TestObserverUpstreams(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok/fail" {
			w.WriteHeader(http.StatusInternalServerError)
		}
		io.WriteString(w, "hello")
	}))
	t.Cleanup(ok.Close)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	dead := closedAddr(t)

	obs := &upstreamLog{seen: map[string][]UpstreamResult{}, took: map[string][]time.Duration{}}
	h, err := New(Options{
		Routes: []config.Route{
			{Path: "/ok/**", Auth: config.AuthPublic, Upstream: ok.URL},
			{Path: "/also/**", Auth: config.AuthPublic, Upstream: ok.URL + "/base"},
			{Path: "/slow/**", Auth: config.AuthPublic, Upstream: slow.URL},
			{Path: "/dead/**", Auth: config.AuthPublic, Upstream: "http://" + dead},
			{Path: "/nowhere/**", Auth: config.AuthPublic},
		},
		Resolver: authn.NewResolver(),
		Timeout:  200 * time.Millisecond,
		Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	// One call per distinct upstream URL, named by host:port only.
	okHost, slowHost := strings.TrimPrefix(ok.URL, "http://"), strings.TrimPrefix(slow.URL, "http://")
	if got, want := strings.Join(obs.hosts, " "), strings.Join([]string{okHost, okHost, slowHost, dead}, " "); got != want {
		t.Fatalf("Upstream called for %q, want %q", got, want)
	}

	front := serveEdge(t, h)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/ok/a", 200}, {"/ok/fail", 500}, {"/also/b", 200},
		{"/slow/c", 504}, {"/dead/d", 502}, {"/nowhere/e", 404},
	} {
		resp, err := http.Get(front + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: status %d, want %d", tc.path, resp.StatusCode, tc.status)
		}
	}

	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := map[string][]UpstreamResult{
		okHost:   {UpstreamOK, UpstreamOK, UpstreamOK},
		slowHost: {UpstreamTimeout},
		dead:     {UpstreamError},
	}
	for host, w := range want {
		if got := obs.seen[host]; !equalResults(got, w) {
			t.Errorf("%s: results %v, want %v", host, got, w)
		}
	}
	if len(obs.seen) != len(want) {
		t.Errorf("exchanges reported for %d upstreams, want %d: %v", len(obs.seen), len(want), obs.seen)
	}
	if d := obs.took[slowHost]; len(d) == 1 && d[0] < 200*time.Millisecond {
		t.Errorf("timed-out exchange took %v, want at least the 200ms timeout", d[0])
	}
}

func equalResults(a, b []UpstreamResult) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// serveEdge runs h in proxy mode on a real listener, answering errors with
// the statuses the HTTP layer maps them to.
func serveEdge(t *testing.T, h *Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// As handlers.NewServer: the write timeout also resets the write
	// deadline that streaming a response body extends.
	srv := &fasthttp.Server{StreamRequestBody: true, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, Handler: func(rc *fasthttp.RequestCtx) {
		path, err := NormalizePath(rc.URI().PathOriginal())
		if err == nil {
			err = h.Serve(rc, path)
		}
		switch {
		case err == nil:
		case errors.Is(err, ErrUpstreamTimeout):
			rc.SetStatusCode(fasthttp.StatusGatewayTimeout)
		case errors.Is(err, ErrNoUpstream):
			rc.SetStatusCode(fasthttp.StatusNotFound)
		default:
			rc.SetStatusCode(fasthttp.StatusBadGateway)
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}
