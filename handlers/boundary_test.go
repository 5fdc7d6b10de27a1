package handlers_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/config"
)

// boundaryRoutes are the rules of the boundary tests: a private tree, a
// method-limited rule with a scope, a public tree, default optional.
var boundaryRoutes = []config.Route{
	{Path: "/private/**", Auth: config.AuthRequired},
	{Path: "/deploy/**", Methods: []string{"DELETE"}, Auth: config.AuthRequired, Scopes: []string{"apps:write"}},
	{Path: "/public/**", Auth: config.AuthPublic},
	{Path: "/reports/**", Methods: []string{"GET"}, Auth: config.AuthRequired},
	{Path: "/admin", Auth: config.AuthRequired},
	{Path: "/files/*", Auth: config.AuthRequired},
}

// boundaryCase is one hostile request: refused with status and code (and
// then nothing reaches the upstream), or forwarded (status 200) with the
// method, path, user and credential lines the upstream must see.
type boundaryCase struct {
	name    string
	method  string
	target  string
	headers []string
	status  int
	code    string
	// Forwarded requests:
	path   string // the path the upstream sees; "" means target
	userID string
	auth   []string // the Authorization lines the upstream sees
	apiKey []string // the X-API-Key lines the upstream sees
}

// TestEdgeBoundary: each class of issue 11 part A in proxy mode. What the
// edge decided is what the upstream receives, or nothing is forwarded.
func TestEdgeBoundary(t *testing.T) {
	up := newUpstream(t)
	e := startEdge(t, edgeOptions{routes: boundaryRoutes, defaultAuth: config.AuthOptional, upstream: up.srv.URL, trusted: []string{"127.0.0.0/8"}})
	otherKey, _ := e.createKey(e.signupLogin("other@example.com"), map[string]any{"name": "other"})
	bearer := "Bearer " + e.token
	key := []string{"X-API-Key", e.key}
	cases := []boundaryCase{
		// A1 path parameters, raw and escaped, in any segment.
		{name: "A1 raw ;", method: "GET", target: "/private;x/s", status: 400, code: "INVALID_PATH"},
		{name: "A1 %3B", method: "GET", target: "/private%3Bx/s", status: 400, code: "INVALID_PATH"},
		{name: "A1 %3b", method: "GET", target: "/private%3bx/s", status: 400, code: "INVALID_PATH"},
		{name: "A1 ..;", method: "GET", target: "/public/..;/private/s", status: 400, code: "INVALID_PATH"},
		{name: "A1 last segment", method: "GET", target: "/private/s;jsessionid=1", status: 400, code: "INVALID_PATH"},
		{name: "A1 in the query is fine", method: "GET", target: "/public/s?a=1;b=2", status: 200},

		// A2 case of paths and methods.
		{name: "A2 upper", method: "GET", target: "/PRIVATE/s", status: 401, code: "UNAUTHORIZED"},
		{name: "A2 mixed", method: "GET", target: "/Private/s", status: 401, code: "UNAUTHORIZED"},
		{name: "A2 escaped dotless i", method: "GET", target: "/pr%C4%B1vate/s", status: 401, code: "UNAUTHORIZED"},
		{name: "A2 escaped long s", method: "GET", target: "/public/../%C5%BFomething/../private/s", status: 401, code: "UNAUTHORIZED"},
		{name: "A2 upper with key keeps the spelling", method: "GET", target: "/PRIVATE/S", headers: key, status: 200, userID: e.userID, apiKey: []string{e.key}},
		{name: "A2 trailing slash reads as none", method: "GET", target: "/admin/", status: 401, code: "UNAUTHORIZED"},
		{name: "A2 trailing slash after one segment", method: "GET", target: "/files/x/", status: 401, code: "UNAUTHORIZED"},
		{name: "A2 trailing slash, key keeps the spelling", method: "GET", target: "/ADMIN/", headers: key, status: 200, userID: e.userID, apiKey: []string{e.key}},
		{name: "A2 lowercase method", method: "delete", target: "/deploy/1", status: 400, code: "INVALID_METHOD"},
		{name: "A2 mixed-case method", method: "Delete", target: "/deploy/1", status: 400, code: "INVALID_METHOD"},
		{name: "A2 own API in capitals", method: "GET", target: "/API/V1/USER", status: 404, code: "NOT_FOUND"},
		{name: "A2 own API keys in capitals", method: "DELETE", target: "/Api/V1/Api-Keys/x", status: 404, code: "NOT_FOUND"},

		// A3 method overrides: never forwarded; "_method" in a POST's query
		// is decided on.
		{name: "A3 override header removed", method: "POST", target: "/deploy/1", headers: []string{"X-HTTP-Method-Override", "DELETE"}, status: 200},
		{name: "A3 override spellings removed", method: "POST", target: "/deploy/1", headers: []string{"x_http_method_override", "DELETE", "X.HTTP.Method", "DELETE", "X-Method-Override", "DELETE"}, status: 200},
		{name: "A3 query _method decided", method: "POST", target: "/deploy/1?_method=DELETE", status: 401, code: "UNAUTHORIZED"},
		{name: "A3 query _method lowercase", method: "POST", target: "/deploy/1?_method=delete", status: 401, code: "UNAUTHORIZED"},
		{name: "A3 query %5Fmethod", method: "POST", target: "/deploy/1?a=b&%5Fmethod=DELETE", status: 401, code: "UNAUTHORIZED"},
		{name: "A3 query .method (PHP reads _method)", method: "POST", target: "/deploy/1?.method=DELETE", status: 401, code: "UNAUTHORIZED"},
		{name: "A3 query _method, read-only key", method: "POST", target: "/deploy/1?_method=DELETE", headers: []string{"X-API-Key", e.roKey}, status: 403, code: "INSUFFICIENT_SCOPE"},
		{name: "A3 query _method, full key", method: "POST", target: "/deploy/1?_method=DELETE", headers: key, status: 200, userID: e.userID, apiKey: []string{e.key}},
		{name: "A3 query _method not a method", method: "POST", target: "/deploy/1?_method=DE%20LETE", status: 400, code: "INVALID_METHOD"},
		{name: "A3 query _method on GET is not read", method: "GET", target: "/deploy/1?_method=DELETE", status: 200},

		// A HEAD is served by the GET handler in most frameworks.
		{name: "A3 HEAD decided as GET (no body to a HEAD)", method: "HEAD", target: "/reports/1", status: 401},
		{name: "A3 HEAD with a key", method: "HEAD", target: "/reports/1", headers: key, status: 200, userID: e.userID, apiKey: []string{e.key}},

		// A4 every credential verified, one caller, only it forwarded.
		{name: "A4 same token twice", method: "GET", target: "/private/s", headers: []string{"Authorization", bearer, "Authorization", bearer}, status: 200, userID: e.userID, auth: []string{bearer}},
		{name: "A4 empty then forged", method: "GET", target: "/private/s", headers: []string{"Authorization", "", "Authorization", "Bearer forged"}, status: 401, code: "INVALID_TOKEN"},
		{name: "A4 valid then forged", method: "GET", target: "/x", headers: []string{"Authorization", bearer, "Authorization", "Bearer forged"}, status: 401, code: "INVALID_TOKEN"},
		{name: "A4 two keys of one user", method: "GET", target: "/x", headers: []string{"X-API-Key", e.key, "X-API-Key", e.roKey}, status: 400, code: "AMBIGUOUS_CREDENTIALS"},
		{name: "A4 keys of two users", method: "GET", target: "/x", headers: []string{"X-API-Key", e.key, "X-API-Key", otherKey}, status: 400, code: "AMBIGUOUS_CREDENTIALS"},
		{name: "A4 bearer and unknown key", method: "GET", target: "/x", headers: []string{"Authorization", bearer, "X-API-Key", "zec_notakey"}, status: 401, code: "INVALID_API_KEY"},
		{name: "A4 token and key of one user", method: "GET", target: "/x", headers: []string{"Authorization", bearer, "X-API-Key", e.key}, status: 400, code: "AMBIGUOUS_CREDENTIALS"},
		{name: "A4 key as bearer and as X-API-Key", method: "GET", target: "/x", headers: []string{"Authorization", "Bearer " + e.key, "X-API-Key", e.key}, status: 200, userID: e.userID, auth: []string{"Bearer " + e.key}},
		{name: "A4 Bearer alone", method: "GET", target: "/x", headers: []string{"Authorization", "Bearer"}, status: 401, code: "INVALID_TOKEN"},
		{name: "A4 Bearer comma", method: "GET", target: "/x", headers: []string{"Authorization", "Bearer," + e.token}, status: 401, code: "INVALID_TOKEN"},
		{name: "A4 Bearer tab", method: "GET", target: "/x", headers: []string{"Authorization", "Bearer\t" + e.token}, status: 401, code: "INVALID_TOKEN"},
		{name: "A4 Basic", method: "GET", target: "/x", headers: []string{"Authorization", "Basic dTpw"}, status: 401, code: "INVALID_TOKEN"},
		{name: "A4 look-alike key header", method: "GET", target: "/x", headers: []string{"X_API_Key", e.key}, status: 400, code: "AMBIGUOUS_CREDENTIALS"},
		{name: "A4 look-alike beside the real one", method: "GET", target: "/x", headers: []string{"X-API-Key", e.key, "X.Api.Key", otherKey}, status: 400, code: "AMBIGUOUS_CREDENTIALS"},
		{name: "A4 empty key line", method: "GET", target: "/x", headers: []string{"X-API-Key", ""}, status: 200},
		{name: "A4 public: nothing verified, nothing forwarded", method: "GET", target: "/public/s", headers: []string{"Authorization", "Bearer forged", "X-API-Key", "zec_notakey", "X_API_Key", "x"}, status: 200},

		// A6 framing look-alikes never pass (the request itself is framed
		// by its real Content-Length).
		{name: "A6 look-alikes", method: "GET", target: "/x", headers: []string{"Transfer_Encoding", "chunked", "Transfer.Encoding", "chunked", "Content_Length", "5", "Content.Length", "5", "X_Request_Id", "forged"}, status: 200},
	}
	for _, tc := range cases {
		up.take()
		r := e.raw(tc.method, tc.target, tc.headers...)
		if r.status != tc.status || r.code() != tc.code {
			t.Errorf("%s: %d %q, want %d %q; %s", tc.name, r.status, r.code(), tc.status, tc.code, r.body)
			continue
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", tc.name)
		}
		seen := up.take()
		if tc.status != 200 {
			if len(seen) != 0 {
				t.Errorf("%s: refused, yet %d requests reached the upstream", tc.name, len(seen))
			}
			continue
		}
		if len(seen) != 1 {
			t.Errorf("%s: %d requests reached the upstream", tc.name, len(seen))
			continue
		}
		checkForwarded(t, tc, seen[0])
	}
}

// checkForwarded compares what the upstream saw with the decision.
func checkForwarded(t *testing.T, tc boundaryCase, s seenReq) {
	t.Helper()
	path := tc.path
	if path == "" {
		path, _, _ = strings.Cut(tc.target, "?")
	}
	if got, _, _ := strings.Cut(s.RequestURI, "?"); s.Method != tc.method || got != path {
		t.Errorf("%s: upstream saw %s %s, want %s %s", tc.name, s.Method, s.RequestURI, tc.method, path)
	}
	if got := s.Header.Get("X-Zectre-User-Id"); got != tc.userID {
		t.Errorf("%s: upstream user %q, want %q", tc.name, got, tc.userID)
	}
	if got := s.Header.Values("Authorization"); strings.Join(got, "|") != strings.Join(tc.auth, "|") {
		t.Errorf("%s: upstream Authorization %q, want %q", tc.name, got, tc.auth)
	}
	if got := s.Header.Values("X-Api-Key"); strings.Join(got, "|") != strings.Join(tc.apiKey, "|") {
		t.Errorf("%s: upstream X-API-Key %q, want %q", tc.name, got, tc.apiKey)
	}
	for name := range s.Header {
		folded := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
		switch {
		case folded != strings.ToLower(name) && (folded == "transfer-encoding" || folded == "content-length" ||
			folded == "x-request-id" || folded == "x-api-key" || folded == "authorization"):
			t.Errorf("%s: look-alike %q reached the upstream", tc.name, name)
		case folded == "x-http-method-override" || folded == "x-http-method" || folded == "x-method-override":
			t.Errorf("%s: method override %q reached the upstream", tc.name, name)
		}
	}
}

// TestForwardAuthBoundary: the same classes where the ingress forwards the
// client's request itself, so the answer must cover every reading of it.
func TestForwardAuthBoundary(t *testing.T) {
	up := newUpstream(t)
	e := startEdge(t, edgeOptions{routes: boundaryRoutes, defaultAuth: config.AuthOptional, upstream: up.srv.URL, trusted: []string{"127.0.0.0/8"}})
	verify := "/api/v1/auth/verify"
	fwd := func(m, uri string, more ...string) []string {
		return append([]string{"X-Forwarded-Method", m, "X-Forwarded-Uri", uri}, more...)
	}
	ro, full := e.roKey, e.key
	cases := []struct {
		name    string
		target  string
		headers []string
		status  int
		code    string
		userID  string
	}{
		{"A1 ; in the original", verify, fwd("GET", "/private;x/s"), 400, "INVALID_PATH", ""},
		{"A1 %3B in the original", verify, fwd("GET", "/private%3Bx/s"), 400, "INVALID_PATH", ""},
		{"A1 ; in an Envoy path", verify + "/private;x/s", nil, 400, "INVALID_PATH", ""},
		{"A2 upper original", verify, fwd("GET", "/PRIVATE/s"), 401, "UNAUTHORIZED", ""},
		{"A2 lowercase original method", verify, fwd("delete", "/deploy/1"), 400, "INVALID_METHOD", ""},
		{"A2 verify endpoint in capitals", "/API/V1/AUTH/VERIFY", fwd("GET", "/private/s"), 401, "UNAUTHORIZED", ""},
		{"A3 override header decided", verify, fwd("POST", "/deploy/1", "X-HTTP-Method-Override", "DELETE"), 401, "UNAUTHORIZED", ""},
		{"A3 override, lowercase value", verify, fwd("POST", "/deploy/1", "X-HTTP-Method-Override", "delete", "X-API-Key", ro), 403, "INSUFFICIENT_SCOPE", ""},
		{"A3 override look-alike", verify, fwd("POST", "/deploy/1", "X_HTTP_Method_Override", "DELETE"), 401, "UNAUTHORIZED", ""},
		{"A3 X-HTTP-Method", verify, fwd("POST", "/deploy/1", "X-HTTP-Method", "DELETE"), 401, "UNAUTHORIZED", ""},
		{"A3 X-Method-Override, full key", verify, fwd("POST", "/deploy/1", "X-Method-Override", "DELETE", "X-API-Key", full), 200, "", e.userID},
		{"A3 query _method", verify, fwd("POST", "/deploy/1?_method=DELETE"), 401, "UNAUTHORIZED", ""},
		{"A3 HEAD decided as GET", verify, fwd("HEAD", "/reports/1"), 401, "UNAUTHORIZED", ""},
		{"A3 override not a method", verify, fwd("POST", "/deploy/1", "X-HTTP-Method-Override", "DEL ETE"), 400, "INVALID_METHOD", ""},
		{"A4 two keys", verify, fwd("GET", "/x", "X-API-Key", full, "X-API-Key", ro), 400, "AMBIGUOUS_CREDENTIALS", ""},
		{"A4 bearer and unknown key", verify, fwd("GET", "/x", "Authorization", "Bearer "+e.token, "X-API-Key", "zec_notakey"), 401, "INVALID_API_KEY", ""},
		{"A4 empty then forged", verify, fwd("GET", "/x", "Authorization", "", "Authorization", "Bearer forged"), 401, "INVALID_TOKEN", ""},
		{"A4 Bearer alone", verify, fwd("GET", "/x", "Authorization", "Bearer"), 401, "INVALID_TOKEN", ""},
		{"A4 look-alike", verify, fwd("GET", "/x", "X_Api_Key", full), 400, "AMBIGUOUS_CREDENTIALS", ""},
		{"A4 same key twice", verify, fwd("GET", "/private/s", "X-API-Key", full, "X-API-Key", full), 200, "", e.userID},
		{"A7 two X-Forwarded-Uri", verify, fwd("GET", "/private/s", "X-Forwarded-Uri", "/public/s"), 400, "AMBIGUOUS_ORIGINAL", ""},
		{"A7 two X-Forwarded-Method", verify, fwd("DELETE", "/deploy/1", "X-Forwarded-Method", "GET"), 400, "AMBIGUOUS_ORIGINAL", ""},
		{"A7 two X-Original-URI", verify, []string{"X-Original-URI", "/private/s", "X-Original-URI", "/public/s"}, 400, "AMBIGUOUS_ORIGINAL", ""},
		{"A7 two X-Original-Method", verify, []string{"X-Original-Method", "DELETE", "X-Original-Method", "GET", "X-Original-URI", "/deploy/1"}, 400, "AMBIGUOUS_ORIGINAL", ""},
	}
	for _, tc := range cases {
		r := e.raw("GET", tc.target, tc.headers...)
		if r.status != tc.status || r.code() != tc.code || r.header.Get("X-Zectre-User-Id") != tc.userID {
			t.Errorf("%s: %d %q user %q, want %d %q user %q; %s", tc.name, r.status, r.code(), r.header.Get("X-Zectre-User-Id"),
				tc.status, tc.code, tc.userID, r.body)
		}
	}
	if n := len(up.take()); n != 0 {
		t.Errorf("forward-auth forwarded %d requests", n)
	}
}

// TestEdgeClientAddressAllLines: behind a trusted proxy that appends its own
// X-Forwarded-For line after a client's forged one, the audit line names
// the address the proxy saw, and the upstream gets every line joined.
func TestEdgeClientAddressAllLines(t *testing.T) {
	up := newUpstream(t)
	e := startEdge(t, edgeOptions{upstream: up.srv.URL, trusted: []string{"127.0.0.0/8"}})
	up.take()
	r := e.raw("GET", "/x", "X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "9.9.9.9", "X-API-Key", e.key)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	seen := up.take()
	if len(seen) != 1 || seen[0].Header.Get("X-Forwarded-For") != "6.6.6.6, 9.9.9.9, 127.0.0.1" {
		t.Fatalf("upstream X-Forwarded-For %q", seen[0].Header.Values("X-Forwarded-For"))
	}
	waitFor(t, func() bool { return strings.Contains(e.audit.String(), `"client":"9.9.9.9"`) }, "the audit line with the client 9.9.9.9:\n"+e.audit.String())
	if strings.Contains(e.audit.String(), "6.6.6.6") {
		t.Fatalf("the forged address reached the audit line:\n%s", e.audit.String())
	}
}

// waitFor polls cond for up to 2 s (the audit writer is buffered).
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("no %s", what)
}

// TestEdgeUnaskedSwitch: an upstream that answers 101 to a request that did
// not ask to upgrade, and then writes bytes that read as a second response,
// gets the client a 502; the connection is closed, so the next request gets
// its own answer, never the smuggled one. Also after an interim 100.
func TestEdgeUnaskedSwitch(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go serveSwitching(c)
		}
	}()
	e := startEdge(t, edgeOptions{upstream: "http://" + ln.Addr().String()})
	for _, tc := range []struct{ name, target string }{
		{"101", "/switch"},
		{"100 then 101", "/continue-switch"},
	} {
		// h2c is never tunnelled: to the edge the switch is unasked. (A
		// decided WebSocket upgrade is tunnelled: websocket_test.go.)
		r := e.raw("GET", tc.target, "Upgrade", "h2c", "Connection", "upgrade")
		if r.status != 502 || r.code() != "UPSTREAM_UNAVAILABLE" {
			t.Fatalf("%s: %d %s, want 502 UPSTREAM_UNAVAILABLE", tc.name, r.status, r.body)
		}
		for i := range 3 {
			r = e.raw("GET", "/plain")
			if r.status != 200 || string(r.body) != "real" {
				t.Fatalf("%s: request %d after the switch: %d %q, want the real answer", tc.name, i, r.status, r.body)
			}
		}
	}
	if conns.Load() < 2 {
		t.Fatalf("%d upstream connections: the switched one was reused", conns.Load())
	}
}

// serveSwitching answers requests on c: /switch with a 101 followed by a
// forged response, /continue-switch with a 100, a 101 and the forgery,
// anything else with "real".
func serveSwitching(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		const forged = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"
		switch req.URL.Path {
		case "/switch":
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"+forged)
		case "/continue-switch":
			_, _ = io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"+forged)
		default:
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal")
		}
	}
}
