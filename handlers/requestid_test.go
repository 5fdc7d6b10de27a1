package handlers_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestRequestIDEverywhere: every answer of the service's own routes (the
// API's successes and errors, the health checks, the login page and its
// assets, unknown paths, requests that cannot be routed or read) carries
// X-Request-Id: the client's when well formed, else a new one.
func TestRequestIDEverywhere(t *testing.T) {
	s, _ := startPage(t, testPolicy(), true)
	token := s.signupLogin("rid@example.com")
	code, _ := s.initiate("rid laptop")
	bearer := "Bearer " + token
	type req struct {
		name, method, path, body string
		headers                  []string
		status                   int
	}
	// Each pass makes its own account and key, so that it sees the same
	// statuses.
	requests := func(pass int) []req {
		_, keyID := s.createKey(token, map[string]any{"name": "to delete"})
		email := fmt.Sprintf("rid%d@example.com", pass)
		return []req{
			{name: "healthz", method: "GET", path: "/healthz", status: 200},
			{name: "healthz HEAD", method: "HEAD", path: "/healthz", status: 200},
			{name: "readyz", method: "GET", path: "/readyz", status: 200},
			{name: "signup", method: "POST", path: "/api/v1/auth/signup", body: `{"email":"` + email + `","password":"hunter2abc"}`, status: 201},
			{name: "signup taken", method: "POST", path: "/api/v1/auth/signup", body: `{"email":"` + email + `","password":"hunter2abc"}`, status: 409},
			{name: "login", method: "POST", path: "/api/v1/auth/login", body: `{"email":"rid@example.com","password":"hunter2abc"}`, status: 200},
			{name: "login wrong", method: "POST", path: "/api/v1/auth/login", body: `{"email":"rid@example.com","password":"nope-nope"}`, status: 401},
			{name: "invalid json", method: "POST", path: "/api/v1/auth/login", body: `{`, status: 400},
			{name: "form post", method: "POST", path: "/api/v1/auth/login", body: `a=b`, headers: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415},
			{name: "user", method: "GET", path: "/api/v1/user", headers: []string{"Authorization", bearer}, status: 200},
			{name: "user without credential", method: "GET", path: "/api/v1/user", status: 401},
			{name: "keys", method: "GET", path: "/api/v1/api-keys", headers: []string{"Authorization", bearer}, status: 200},
			{name: "key delete", method: "DELETE", path: "/api/v1/api-keys/" + keyID, headers: []string{"Authorization", bearer}, status: 204},
			{name: "cli initiate", method: "POST", path: "/api/v1/auth/cli/initiate", status: 200},
			{name: "cli status", method: "GET", path: "/api/v1/auth/cli/status/" + code, status: 200},
			{name: "cli status unknown", method: "GET", path: "/api/v1/auth/cli/status/nope", status: 404},
			{name: "login page", method: "GET", path: "/auth/cli?code=" + code, headers: []string{"Accept", "text/html"}, status: 200},
			{name: "login page unknown code", method: "GET", path: "/auth/cli?code=nope", headers: []string{"Accept", "text/html"}, status: 404},
			{name: "page asset", method: "GET", path: "/auth/cli/assets/cli.css", status: 200},
			{name: "page asset unknown", method: "GET", path: "/auth/cli/assets/nope.js", status: 404},
			{name: "unknown API path", method: "GET", path: "/api/v1/auth/nope", status: 404},
			{name: "wrong method", method: "PUT", path: "/api/v1/api-keys", status: 405},
			{name: "path that cannot be normalised", method: "GET", path: "/api/v1/auth/login%2F..", status: 400},
		}
	}
	for pass, id := range []struct {
		name, sent string
		kept       bool
	}{
		{"well formed", "client-id_1.2:3", true},
		{"at most 128", strings.Repeat("a", 128), true},
		{"none", "", false},
		{"too long", strings.Repeat("a", 129), false},
		{"spaces", "two words", false},
		{"quote", `a"b`, false},
	} {
		for _, r := range requests(pass) {
			t.Run(id.name+"/"+r.name, func(t *testing.T) {
				var body *strings.Reader
				if r.body != "" {
					body = strings.NewReader(r.body)
				}
				var hr *http.Request
				var err error
				if body != nil {
					hr, err = http.NewRequest(r.method, s.base+r.path, body)
					hr.Header.Set("Content-Type", "application/json")
				} else {
					hr, err = http.NewRequest(r.method, s.base+r.path, nil)
				}
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i+1 < len(r.headers); i += 2 {
					hr.Header.Set(r.headers[i], r.headers[i+1])
				}
				if id.sent != "" {
					hr.Header.Set("X-Request-Id", id.sent)
				}
				resp, err := s.http.Do(hr)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != r.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, r.status)
				}
				got := resp.Header.Values("X-Request-Id")
				switch {
				case len(got) != 1:
					t.Fatalf("X-Request-Id %q: want exactly one", got)
				case id.kept && got[0] != id.sent:
					t.Fatalf("X-Request-Id %q, want the client's %q", got[0], id.sent)
				case !id.kept && !generatedID.MatchString(got[0]):
					t.Fatalf("X-Request-Id %q, want a new id", got[0])
				}
			})
		}
	}
	// A request the server cannot read still gets an id (a new one: what
	// the client sent was not read).
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	go fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("h", 64<<10))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 431 || !generatedID.MatchString(resp.Header.Get("X-Request-Id")) {
		t.Fatalf("oversized header: %d, X-Request-Id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
}

// syncBuffer is a buffer safe for the server's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// lines returns the JSON lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestRequestIDInAuditLines: the audit and log lines of the API's
// authentication attempts carry the id the answer carries.
func TestRequestIDInAuditLines(t *testing.T) {
	clk := &clock{t: time.Now().UTC()}
	api := newTestAPI(t, storeURLForOneStore(t), testPolicy(), testParams, clk.Now)
	var audit, logs syncBuffer
	api.Audit = newAuditWriter(&audit)
	t.Cleanup(func() { api.Audit.Close() })
	api.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	s := serveAPI(t, api, clk)
	s.signupLogin("aud@example.com")
	code := s.do("POST", "/api/v1/auth/cli/initiate", nil).str("code")

	for _, tc := range []struct {
		name, method, path string
		body               any
		headers            []string
		id                 string // sent; "" sends none
		// where the id must appear: "audit" lines of outcome, or "log" lines of msg
		audit, log string
	}{
		{name: "login denied", method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "aud@example.com", "password": "wrong-one"}, id: "rid-login-denied", audit: "denied"},
		{name: "login ok", method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "aud@example.com", "password": testPassword}, id: "rid-login-ok", audit: "ok"},
		{name: "login ok, generated id", method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "aud@example.com", "password": testPassword}, audit: "ok"},
		{name: "bad token", method: "GET", path: "/api/v1/user", headers: []string{"Authorization", "Bearer garbage"}, id: "rid-bad-token", audit: "denied"},
		{name: "signup", method: "POST", path: "/api/v1/auth/signup", body: map[string]string{"email": "aud2@example.com", "password": testPassword}, id: "rid-signup", log: "signup"},
		{name: "cli complete", method: "POST", path: "/api/v1/auth/cli/complete", body: map[string]string{"code": code, "email": "aud@example.com", "password": testPassword}, id: "rid-cli", audit: "ok", log: "cli login completed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.headers
			if tc.id != "" {
				h = append(h, "X-Request-Id", tc.id)
			}
			r := s.do(tc.method, tc.path, tc.body, h...)
			id := r.header.Get("X-Request-Id")
			if id == "" || tc.id != "" && id != tc.id {
				t.Fatalf("answered X-Request-Id %q, sent %q", id, tc.id)
			}
			if err := api.Audit.Flush(); err != nil {
				t.Fatal(err)
			}
			find := func(lines []map[string]any, key, val string) bool {
				for _, l := range lines {
					if l[key] == val && l["request_id"] == id {
						return true
					}
				}
				return false
			}
			if tc.audit != "" && !find(audit.lines(t), "outcome", tc.audit) {
				t.Errorf("no audit line of outcome %q with request_id %q:\n%s", tc.audit, id, audit.b.String())
			}
			if tc.log != "" && !find(logs.lines(t), "msg", tc.log) {
				t.Errorf("no log line %q with request_id %q", tc.log, id)
			}
		})
	}
}
