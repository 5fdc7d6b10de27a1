package handlers_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/handlers"
	"github.com/zectre/zectre-auth/proxy"
)

// TestEdgeDecisions covers the rule table end to end: auth modes, scopes,
// methods, first-match order, the default upstream and default_auth.
func TestEdgeDecisions(t *testing.T) {
	up := newUpstream(t)
	other := newUpstream(t)
	routes := []config.Route{
		{Path: "/apps/**", Methods: []string{"POST", "PUT"}, Auth: config.AuthRequired, Scopes: []string{"apps:write"}},
		{Path: "/apps/**", Auth: config.AuthRequired, Scopes: []string{"apps:read"}},
		{Path: "/opt/**", Auth: config.AuthOptional},
		{Path: "/pub/**", Auth: config.AuthPublic},
		{Path: "/elsewhere/**", Auth: config.AuthPublic, Upstream: other.srv.URL},
	}
	e := startEdge(t, edgeOptions{routes: routes, defaultAuth: config.AuthRequired, upstream: up.srv.URL})
	key, ro, tok := []string{"X-API-Key", e.key}, []string{"X-API-Key", e.roKey}, []string{"Authorization", "Bearer " + e.token}
	cases := []struct {
		name, method, target string
		headers              []string
		status               int
		code                 string
		reaches              *upstreamRecorder
		userID               string
	}{
		{"required, no credential", "GET", "/apps/1", nil, 401, "UNAUTHORIZED", nil, ""},
		{"required, bad key", "GET", "/apps/1", []string{"X-API-Key", "zec_notakey"}, 401, "INVALID_API_KEY", nil, ""},
		{"required, bad token", "GET", "/apps/1", []string{"Authorization", "Bearer eyJ.e30.x"}, 401, "INVALID_TOKEN", nil, ""},
		{"required, read scope held", "GET", "/apps/1", ro, 200, "", up, e.userID},
		{"write rule first for POST, scope missing", "POST", "/apps/1", ro, 403, "INSUFFICIENT_SCOPE", nil, ""},
		{"write rule, full key", "POST", "/apps/1", key, 200, "", up, e.userID},
		{"write rule, token carries *", "PUT", "/apps/1", tok, 200, "", up, e.userID},
		{"optional, none", "GET", "/opt/x", nil, 200, "", up, ""},
		{"optional, valid", "GET", "/opt/x", key, 200, "", up, e.userID},
		{"optional, invalid key is still 401", "GET", "/opt/x", []string{"X-API-Key", "zec_notakey"}, 401, "INVALID_API_KEY", nil, ""},
		{"optional, invalid token is still 401", "GET", "/opt/x", []string{"Authorization", "Bearer nope"}, 401, "INVALID_TOKEN", nil, ""},
		{"optional, basic auth is a credential nobody can verify", "GET", "/opt/x", []string{"Authorization", "Basic dTpw"}, 401, "INVALID_TOKEN", nil, ""},
		{"public ignores credentials", "GET", "/pub/x", []string{"X-API-Key", "zec_notakey"}, 200, "", up, ""},
		{"public, valid key, still anonymous", "GET", "/pub/x", key, 200, "", up, ""},
		{"route upstream", "GET", "/elsewhere/x", nil, 200, "", other, ""},
		{"no rule: default_auth required", "GET", "/unruled", nil, 401, "UNAUTHORIZED", nil, ""},
		{"no rule: default upstream", "DELETE", "/unruled", key, 200, "", up, e.userID},
	}
	for _, tc := range cases {
		up.take()
		other.take()
		r := e.raw(tc.method, tc.target, tc.headers...)
		if r.status != tc.status || r.code() != tc.code {
			t.Errorf("%s: %d %q, want %d %q; %s", tc.name, r.status, r.code(), tc.status, tc.code, r.body)
			continue
		}
		if r.status == 401 && r.header.Get("WWW-Authenticate") != `Bearer realm="zectre"` {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
		if r.status >= 400 && r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: error without JSON: %q", tc.name, r.header.Get("Content-Type"))
		}
		seenUp, seenOther := up.take(), other.take()
		switch {
		case tc.reaches == nil && len(seenUp)+len(seenOther) != 0:
			t.Errorf("%s: reached an upstream", tc.name)
		case tc.reaches == up && (len(seenUp) != 1 || len(seenOther) != 0),
			tc.reaches == other && (len(seenOther) != 1 || len(seenUp) != 0):
			t.Errorf("%s: upstream %d, other %d requests", tc.name, len(seenUp), len(seenOther))
		case tc.reaches != nil:
			seen := append(seenUp, seenOther...)[0]
			if got := seen.Header.Get("X-Zectre-User-Id"); got != tc.userID {
				t.Errorf("%s: upstream user %q, want %q", tc.name, got, tc.userID)
			}
			if seen.Method != tc.method || string(r.body) != "upstream ok" || r.header.Get("X-Upstream") != "yes" {
				t.Errorf("%s: method %s, answer %q %v", tc.name, seen.Method, r.body, r.header)
			}
		}
	}
}

// TestEdgeIdentityHeaders: the values attached for a key and for a token.
func TestEdgeIdentityHeaders(t *testing.T) {
	up := newUpstream(t)
	e := startEdge(t, edgeOptions{upstream: up.srv.URL})
	e.raw("GET", "/x", "X-API-Key", e.roKey)
	h := up.take()[0].Header
	want := map[string]string{
		"X-Zectre-User-Id": e.userID, "X-Zectre-User-Email": "edge@example.com", "X-Zectre-User-Admin": "false",
		"X-Zectre-Auth-Method": "api_key", "X-Zectre-Scopes": "apps:read",
		// Credentials pass unchanged, for upstreams still checking them.
		"X-Api-Key": e.roKey,
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if h.Get("X-Zectre-Api-Key-Id") == "" {
		t.Error("no X-Zectre-Api-Key-Id for a key")
	}
	e.raw("GET", "/x", "Authorization", "Bearer "+e.token)
	h = up.take()[0].Header
	if h.Get("X-Zectre-Auth-Method") != "jwt" || h.Get("X-Zectre-Scopes") != "*" || h.Get("X-Zectre-Api-Key-Id") != "" {
		t.Errorf("token identity: %v", h)
	}
	if h.Get("Authorization") != "Bearer "+e.token {
		t.Error("Authorization was not passed on")
	}
	if r := e.raw("GET", "/x", "X-API-Key", "zec_"+strings.Repeat("a", 42)); r.status != 401 {
		t.Fatalf("a malformed key: %d", r.status)
	}
	// The audit log names the attempt, never the credential.
	if err := e.api.Audit.Flush(); err != nil {
		t.Fatal(err)
	}
	log := e.audit.String()
	if !strings.Contains(log, `"source":"proxy"`) || !strings.Contains(log, `"user_id":"`+e.userID+`"`) {
		t.Errorf("no proxy audit line:\n%s", log)
	}
	if !strings.Contains(log, `"outcome":"denied","method":"api_key","source":"proxy","code":"INVALID_API_KEY"`) {
		t.Errorf("no denial line with its code:\n%s", log)
	}
	if strings.Contains(log, e.roKey) || strings.Contains(log, e.token) {
		t.Fatal("a credential reached the audit log")
	}
}

func TestEdgeRequestID(t *testing.T) {
	up := newUpstream(t)
	e := startEdge(t, edgeOptions{upstream: up.srv.URL, defaultAuth: config.AuthRequired})
	r := e.raw("GET", "/x", "X-API-Key", e.key, "X-Request-Id", "abc-123:x.y_z")
	if got := up.take()[0].Header.Get("X-Request-Id"); got != "abc-123:x.y_z" || r.header.Get("X-Request-Id") != got {
		t.Errorf("kept id: upstream %q, response %q", got, r.header.Get("X-Request-Id"))
	}
	for _, bad := range []string{"has space", strings.Repeat("a", 129), `quo"te`} {
		r = e.raw("GET", "/x", "X-API-Key", e.key, "X-Request-Id", bad)
		got := up.take()[0].Header.Get("X-Request-Id")
		if got == bad || len(got) != 32 || r.header.Get("X-Request-Id") != got {
			t.Errorf("%q: upstream %q, response %q", bad, got, r.header.Get("X-Request-Id"))
		}
	}
	r = e.raw("GET", "/x") // a refusal carries an id too
	if r.status != 401 || len(r.header.Get("X-Request-Id")) != 32 {
		t.Errorf("401 without a request id: %d %v", r.status, r.header)
	}
}

// TestEdgeUpstreamFailures: no upstream, a closed port, a reset, a slow
// upstream; each answered with the JSON envelope, without leaking
// goroutines.
func TestEdgeUpstreamFailures(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := closed.Addr().String()
	closed.Close()

	// An upstream that accepts and hangs up without answering.
	hangup, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hangup.Close()
	go func() {
		for {
			c, err := hangup.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			c.Read(buf)
			c.Close()
		}
	}()

	slow := newUpstream(t)
	release := make(chan struct{})
	slow.setHandler(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)

	routes := []config.Route{
		{Path: "/dead/**", Auth: config.AuthPublic, Upstream: "http://" + deadAddr},
		{Path: "/hangup/**", Auth: config.AuthPublic, Upstream: "http://" + hangup.Addr().String()},
		{Path: "/slow/**", Auth: config.AuthPublic, Upstream: slow.srv.URL},
		{Path: "/none/**", Auth: config.AuthPublic},
	}
	log := &auditBuffer{}
	e := startEdge(t, edgeOptions{routes: routes, timeout: 300 * time.Millisecond, log: log})
	before := runtime.NumGoroutine()
	for round := 0; round < 3; round++ {
		for _, tc := range []struct {
			target string
			status int
			code   string
		}{
			{"/none/x", 404, "NOT_FOUND"},
			{"/dead/x", 502, "UPSTREAM_UNAVAILABLE"},
			{"/hangup/x", 502, "UPSTREAM_UNAVAILABLE"},
			{"/slow/x", 504, "UPSTREAM_TIMEOUT"},
		} {
			start := time.Now()
			r := e.raw("GET", tc.target)
			if r.status != tc.status || r.code() != tc.code {
				t.Errorf("%s: %d %q, want %d %q", tc.target, r.status, r.code(), tc.status, tc.code)
			}
			if d := time.Since(start); tc.status == 504 && d > 5*time.Second {
				t.Errorf("%s took %v", tc.target, d)
			}
			// The failure is logged with the request id the client got.
			if id := r.header.Get("X-Request-Id"); tc.status >= 500 && !strings.Contains(log.String(), `"request_id":"`+id+`"`) {
				t.Errorf("%s: no log line with request_id %q:\n%s", tc.target, id, log.String())
			}
		}
	}
	// Each failure leaves nothing running behind it.
	waitUntil(t, func() bool { return runtime.NumGoroutine() <= before+4 }, "goroutines %d, before %d", before)
}

func waitUntil(t *testing.T, cond func() bool, format string, before int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf(format, runtime.NumGoroutine(), before)
}

// TestEdgeKeepAlive: upstream connections are pooled, not one per request.
func TestEdgeKeepAlive(t *testing.T) {
	up := newUpstream(t)
	e := startEdge(t, edgeOptions{upstream: up.srv.URL, defaultAuth: config.AuthPublic})
	for i := 0; i < 30; i++ {
		if i == 15 { // then bodies that are streamed through
			up.setHandler(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("b", 100000)) })
		}
		if r := e.raw("POST", "/x", "Content-Type", "text/plain"); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
	}
	if n := up.connCount(); n > 2 {
		t.Fatalf("%d upstream connections for 30 sequential requests", n)
	}
}

// patternReader yields n bytes without holding them.
type patternReader struct{ n int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	for i := range b {
		b[i] = 'x'
	}
	p.n -= int64(len(b))
	return len(b), nil
}

// TestEdgeStreamsBigBodies: a 64 MiB chunked upload and a 64 MiB download
// pass through without the process holding them.
func TestEdgeStreamsBigBodies(t *testing.T) {
	const size = 64 << 20
	up := newUpstream(t)
	up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/download" {
			io.Copy(w, &patternReader{n: size})
		}
	})
	e := startEdge(t, edgeOptions{upstream: up.srv.URL, defaultAuth: config.AuthPublic})

	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	sampler.Go(func() {
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	})

	// Upload, chunked (unknown length).
	req, _ := http.NewRequest("PUT", e.base+"/upload", io.NopCloser(&patternReader{n: size}))
	req.ContentLength = -1
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	seen := up.take()
	if len(seen) != 1 || seen[0].BodyLen != size {
		t.Fatalf("upstream received %+v", seen)
	}

	// Download.
	resp, err = e.http.Get(e.base + "/download")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	close(stop)
	sampler.Wait()
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("heap in use grew by %d KiB at most while streaming 2 × 64 MiB", grew>>10)
	if grew > 16<<20 {
		t.Fatalf("heap in use grew by %d MiB: the bodies were buffered", grew>>20)
	}
}

// TestEdgeClientBody: a client that hangs up mid-upload breaks only its own
// exchange; the next upload passes in full.
func TestEdgeClientBody(t *testing.T) {
	up := newUpstream(t)
	e := startEdge(t, edgeOptions{upstream: up.srv.URL, defaultAuth: config.AuthPublic})
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n%s", strings.Repeat("a", 20000))
	c.Close()
	body := []byte(strings.Repeat("b", 300000))
	for i := 0; i < 3; i++ {
		if r := rawRequestTo(t, e.addr, "POST", "/y", body); r.status != 200 {
			t.Fatalf("upload after an aborted one: %d %s", r.status, r.body)
		}
	}
	var full int
	for _, s := range up.take() {
		if s.RequestURI == "/y" && s.BodyLen == int64(len(body)) {
			full++
		}
	}
	if full != 3 {
		t.Fatalf("%d complete uploads reached the upstream, want 3", full)
	}
}

// TestForwardAuth: /api/v1/auth/verify answers the decision for the
// original request it is told about, believing the ingress's headers only
// from trusted peers, and never forwards anything.
func TestForwardAuth(t *testing.T) {
	up := newUpstream(t)
	routes := append([]config.Route{{Path: "/deploy/**", Auth: config.AuthRequired, Scopes: []string{"deploy:write"}}}, spoofRoutes...)
	trusted := startEdge(t, edgeOptions{routes: routes, defaultAuth: config.AuthRequired, upstream: up.srv.URL, trusted: []string{"127.0.0.0/8"}})
	untrusted := startEdge(t, edgeOptions{routes: routes, defaultAuth: config.AuthRequired, upstream: up.srv.URL, trusted: []string{"10.0.0.0/8"}})
	fwd := func(m, uri string) []string { return []string{"X-Forwarded-Method", m, "X-Forwarded-Uri", uri} }
	orig := func(m, uri string) []string { return []string{"X-Original-Method", m, "X-Original-URI", uri} }
	with := func(a []string, b ...string) []string { return append(append([]string(nil), a...), b...) }
	cases := []struct {
		name    string
		e       *edge
		method  string
		target  string
		headers []string
		status  int
		code    string
		userID  string
	}{
		{"traefik: public", trusted, "GET", "/api/v1/auth/verify", fwd("GET", "/public/x"), 200, "", ""},
		{"traefik: admin, none", trusted, "GET", "/api/v1/auth/verify", fwd("GET", "/admin/x"), 401, "UNAUTHORIZED", ""},
		{"traefik: admin, key", trusted, "GET", "/api/v1/auth/verify", with(fwd("GET", "/admin/x"), "X-API-Key", trusted.key), 200, "", trusted.userID},
		{"traefik: dot-dot out of public", trusted, "GET", "/api/v1/auth/verify", fwd("GET", "/public/../admin/x"), 401, "UNAUTHORIZED", ""},
		{"traefik: query names public", trusted, "GET", "/api/v1/auth/verify", fwd("GET", "/admin/x?/public/y"), 401, "UNAUTHORIZED", ""},
		{"traefik: bad path", trusted, "GET", "/api/v1/auth/verify", fwd("GET", "/public/..%2fadmin"), 400, "INVALID_PATH", ""},
		{"traefik: scope missing", trusted, "GET", "/api/v1/auth/verify", with(fwd("POST", "/deploy/1"), "X-API-Key", trusted.roKey), 403, "INSUFFICIENT_SCOPE", ""},
		{"traefik: scope held", trusted, "GET", "/api/v1/auth/verify", with(fwd("POST", "/deploy/1"), "X-API-Key", trusted.key), 200, "", trusted.userID},
		{"nginx: public with query", trusted, "GET", "/api/v1/auth/verify", orig("GET", "/public/x?a=b"), 200, "", ""},
		{"nginx: admin, none", trusted, "GET", "/api/v1/auth/verify", orig("GET", "/admin/x?x=/public"), 401, "UNAUTHORIZED", ""},
		{"nginx: absolute uri", trusted, "GET", "/api/v1/auth/verify", orig("GET", "http://h/admin/x"), 401, "UNAUTHORIZED", ""},
		{"nginx: token", trusted, "GET", "/api/v1/auth/verify", with(orig("GET", "/admin/x"), "Authorization", "Bearer "+trusted.token), 200, "", trusted.userID},
		// nginx passes client headers on: a client's X-Forwarded-* beside
		// the ingress's X-Original-* must not choose the path or method.
		{"nginx: client forwarded-uri", trusted, "GET", "/api/v1/auth/verify", with(orig("GET", "/admin/x"), fwd("GET", "/public/x")...), 400, "AMBIGUOUS_ORIGINAL", ""},
		{"nginx: client forwarded-uri, no method", trusted, "GET", "/api/v1/auth/verify", with(orig("GET", "/admin/x"), "X-Forwarded-Uri", "/public/x"), 400, "AMBIGUOUS_ORIGINAL", ""},
		{"nginx: client forwarded-method", trusted, "GET", "/api/v1/auth/verify", with(orig("POST", "/deploy/1"), "X-Forwarded-Uri", "/deploy/1", "X-Forwarded-Method", "GET", "X-API-Key", trusted.roKey), 400, "AMBIGUOUS_ORIGINAL", ""},
		{"both pairs agree", trusted, "GET", "/api/v1/auth/verify", with(orig("POST", "/deploy/1?a"), "X-Forwarded-Uri", "/deploy/1", "X-API-Key", trusted.roKey), 403, "INSUFFICIENT_SCOPE", ""},
		// An untrusted peer cannot choose the path: its own one counts.
		{"untrusted: forged public", untrusted, "GET", "/api/v1/auth/verify", fwd("GET", "/public/x"), 401, "UNAUTHORIZED", ""},
		{"untrusted: forged nginx public", untrusted, "GET", "/api/v1/auth/verify", orig("GET", "/public/x"), 401, "UNAUTHORIZED", ""},
		{"untrusted: with key", untrusted, "GET", "/api/v1/auth/verify", with(fwd("GET", "/public/x"), "X-API-Key", untrusted.key), 200, "", untrusted.userID},
		// Envoy: the original path follows the endpoint; the method is the request's.
		{"envoy: public", untrusted, "GET", "/api/v1/auth/verify/public/x?q=1", nil, 200, "", ""},
		{"envoy: admin, none", untrusted, "POST", "/api/v1/auth/verify/admin/x", nil, 401, "UNAUTHORIZED", ""},
		{"envoy: admin, key", untrusted, "DELETE", "/api/v1/auth/verify/admin/x", []string{"X-API-Key", untrusted.key}, 200, "", untrusted.userID},
		{"envoy: dot-dot out of public", untrusted, "GET", "/api/v1/auth/verify/public/../admin/x", nil, 401, "UNAUTHORIZED", ""},
		{"envoy: above its root", untrusted, "GET", "/api/v1/auth/verify/../x", nil, 400, "INVALID_PATH", ""},
		{"envoy: scope missing", untrusted, "POST", "/api/v1/auth/verify/deploy/1", []string{"X-API-Key", untrusted.roKey}, 403, "INSUFFICIENT_SCOPE", ""},
		{"any method", trusted, "PATCH", "/api/v1/auth/verify", with(fwd("GET", "/admin/x"), "X-API-Key", trusted.key), 200, "", trusted.userID},
	}
	for _, tc := range cases {
		up.take()
		r := tc.e.raw(tc.method, tc.target, tc.headers...)
		if r.status != tc.status || r.code() != tc.code {
			t.Errorf("%s: %d %q, want %d %q; %s", tc.name, r.status, r.code(), tc.status, tc.code, r.body)
			continue
		}
		if seen := up.take(); len(seen) != 0 {
			t.Errorf("%s: forward-auth forwarded %+v", tc.name, seen)
		}
		if got := r.header.Get("X-Zectre-User-Id"); got != tc.userID {
			t.Errorf("%s: X-Zectre-User-Id %q, want %q", tc.name, got, tc.userID)
		}
		switch {
		case r.status == 200 && len(r.body) != 0:
			t.Errorf("%s: 200 with a body %q", tc.name, r.body)
		case r.status == 401 && r.header.Get("WWW-Authenticate") != `Bearer realm="zectre"`:
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		case r.status == 200 && tc.userID != "" && (r.header.Get("X-Zectre-Scopes") == "" || r.header.Get("X-Zectre-Auth-Method") == ""):
			t.Errorf("%s: incomplete identity %v", tc.name, r.header)
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", tc.name)
		}
	}
}

// TestOwnRoutes: the Authentication API keeps its JSON 404 and 405, and
// with no edge every other path is a JSON 404.
func TestOwnRoutes(t *testing.T) {
	up := newUpstream(t)
	e := startEdge(t, edgeOptions{upstream: up.srv.URL, defaultAuth: config.AuthPublic})
	for _, tc := range []struct {
		method, target string
		status         int
		code           string
	}{
		{"GET", "/api/v1/auth/nope", 404, "NOT_FOUND"},
		{"DELETE", "/api/v1/auth/login", 405, "METHOD_NOT_ALLOWED"},
		{"GET", "/api/v1/api-keys/x/y", 404, "NOT_FOUND"},
		{"GET", "/healthz", 200, ""},
		{"HEAD", "/healthz", 200, ""},
		{"HEAD", "/readyz", 200, ""},
	} {
		if r := e.raw(tc.method, tc.target); r.status != tc.status || r.code() != tc.code {
			t.Errorf("%s %s: %d %q", tc.method, tc.target, r.status, r.code())
		}
	}
	if r := e.raw("GET", "/api/v1/%61pi-keys", "Authorization", "Bearer "+e.token); r.status != 200 || !strings.Contains(string(r.body), `"data"`) {
		t.Errorf("encoded API path: %d %s", r.status, r.body)
	}
	if seen := up.take(); len(seen) != 0 {
		t.Errorf("own routes reached the upstream: %+v", seen)
	}

	bare := startEdge(t, edgeOptions{noEdge: true})
	for _, target := range []string{"/anything", "/api/v1/auth/verify"} {
		if r := bare.raw("GET", target); r.status != 404 || r.code() != "NOT_FOUND" {
			t.Errorf("no edge, %s: %d %q", target, r.status, r.code())
		}
	}
}

// TestEdgeHTTPSUpstream: an https upstream is verified against the
// configured roots and reached with the client's Host kept.
func TestEdgeHTTPSUpstream(t *testing.T) {
	var seenHost, seenProto atomic.Value
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenHost.Store(r.Host)
		seenProto.Store(r.Header.Get("X-Forwarded-Proto"))
		io.WriteString(w, "tls ok")
	}))
	defer up.Close()
	roots := x509.NewCertPool()
	roots.AddCert(up.Certificate())

	api := newTestAPI(t, storeURLForOneStore(t), testPolicy(), testParams, time.Now)
	for _, tc := range []struct {
		name   string
		tls    *tls.Config
		status int
	}{
		{"trusted roots", &tls.Config{RootCAs: roots}, 200},
		{"system roots refuse the test certificate", nil, 502},
	} {
		px, err := proxy.New(proxy.Options{Upstream: up.URL, DefaultAuth: config.AuthPublic, Resolver: api.Resolver, TLSConfig: tc.tls})
		if err != nil {
			t.Fatal(err)
		}
		defer px.Close()
		srv := handlers.NewServer(handlers.NewFront(api, px, nil).Serve, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
		defer srv.Shutdown()
		r := rawRequestTo(t, ln.Addr().String(), "GET", "/x", nil, "Host", "app.example")
		if r.status != tc.status {
			t.Fatalf("%s: %d %s", tc.name, r.status, r.body)
		}
		if tc.status == 200 && (string(r.body) != "tls ok" || seenHost.Load() != "app.example" || seenProto.Load() != "http") {
			t.Fatalf("%s: body %q, host %v, proto %v", tc.name, r.body, seenHost.Load(), seenProto.Load())
		}
	}
}

// TestEdgeResponses: status, headers and bodies come back as the upstream
// sent them, HEAD and bodiless statuses included; hop-by-hop headers of the
// upstream do not.
func TestEdgeResponses(t *testing.T) {
	up := newUpstream(t)
	up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "1234")
			w.Header().Set("X-Head", "1")
		case "/304":
			w.Header().Set("Etag", `"v1"`)
			w.WriteHeader(304)
		case "/created":
			w.Header().Set("Connection", "X-Internal")
			w.Header().Set("X-Internal", "secret")
			w.Header().Add("Set-Cookie", "a=1; Path=/")
			w.Header().Add("Set-Cookie", "b=2; Path=/")
			w.WriteHeader(201)
			io.WriteString(w, "made")
		case "/teapot":
			w.WriteHeader(418)
			io.WriteString(w, `{"upstream":"error"}`)
		}
	})
	e := startEdge(t, edgeOptions{upstream: up.srv.URL, defaultAuth: config.AuthPublic})
	r := e.raw("HEAD", "/head")
	if r.status != 200 || r.header.Get("Content-Length") != "1234" || r.header.Get("X-Head") != "1" || len(r.body) != 0 {
		t.Errorf("HEAD: %d %v %q", r.status, r.header, r.body)
	}
	if r := e.raw("GET", "/304"); r.status != 304 || r.header.Get("Etag") != `"v1"` {
		t.Errorf("304: %d %v", r.status, r.header)
	}
	r = e.raw("POST", "/created")
	if r.status != 201 || string(r.body) != "made" || len(r.header.Values("Set-Cookie")) != 2 || r.header.Get("X-Internal") != "" {
		t.Errorf("201: %d %v %q", r.status, r.header, r.body)
	}
	// The upstream's own errors pass unchanged: they are its answers.
	if r := e.raw("GET", "/teapot"); r.status != 418 || string(r.body) != `{"upstream":"error"}` {
		t.Errorf("418: %d %q", r.status, r.body)
	}
}

// TestEdgeUpstreamBasePath: an upstream URL with a path prefixes the
// normalised path; the query follows unchanged.
func TestEdgeUpstreamBasePath(t *testing.T) {
	up := newUpstream(t)
	e := startEdge(t, edgeOptions{upstream: up.srv.URL + "/base/", defaultAuth: config.AuthPublic})
	e.raw("GET", "/a/../b/?q=%2e")
	if seen := up.take(); len(seen) != 1 || seen[0].RequestURI != "/base/b/?q=%2e" {
		t.Fatalf("upstream saw %+v", seen)
	}
}
