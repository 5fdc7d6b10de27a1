package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The ingress tests put real nginx (auth_request) and real Caddy
// (forward_auth) in front of a real upstream, with zectre-auth as the
// forward-auth target, configured as docs/edge.md recommends. They check that
// the ingress enforces every decision and that no identity forged by the
// client reaches the upstream.

// edgeRoutes is the rule set of the ingress tests.
const edgeRoutes = `
default_auth = "required"

[[routes]]
path = "/public/**"
auth = "public"

[[routes]]
path = "/deploy/**"
auth = "required"
scopes = ["deploy:write"]
`

// recorder is an upstream that records the headers of every request.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	Method, Path string
	Header       http.Header
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.seen = append(r.seen, seenRequest{req.Method, req.URL.EscapedPath(), req.Header.Clone()})
		r.mu.Unlock()
		io.WriteString(w, "upstream ok")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// take returns and forgets what reached the upstream.
func (r *recorder) take() []seenRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.seen
	r.seen = nil
	return s
}

func (r *recorder) hostPort() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// needProgram finds an ingress binary. CI installs them (.ci/run), so there
// a missing one fails the test; elsewhere it is skipped loudly.
func needProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI=true): %v", name, err)
		}
		t.Skipf("SKIP: %s is not installed; install it to run this ingress test", name)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// runIngress starts an ingress process and waits until addr accepts.
func runIngress(t *testing.T, addr string, logFile string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(logFile), "XDG_DATA_HOME="+filepath.Dir(logFile),
		"XDG_CONFIG_HOME="+filepath.Dir(logFile))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		out.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			raw, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited before listening:\n%s", name, raw)
		default:
		}
		if time.Now().After(deadline) {
			raw, _ := os.ReadFile(logFile)
			t.Fatalf("%s did not listen on %s:\n%s", name, addr, raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// edgeFixture is zectre-auth configured with edgeRoutes, an account with a
// full key, a token and a key without the deploy scope.
type edgeFixture struct {
	auth                    *server
	userID                  string
	token, key, readOnlyKey string
}

func newEdgeFixture(t *testing.T) edgeFixture {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "zectre-auth.toml")
	if err := os.WriteFile(cfg, []byte(edgeRoutes), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, dir, env("ZECTRE_AUTH_CONFIG="+cfg))
	token, key := s.account("ingress@example.com")
	st, b := s.call("POST", "/api/v1/api-keys", `{"name":"read only","scopes":["apps:read"]}`,
		"Authorization", "Bearer "+token)
	if st != 201 {
		t.Fatalf("create read-only key: %d %v", st, b)
	}
	st, u := s.call("GET", "/api/v1/user", "", "X-API-Key", key)
	if st != 200 {
		t.Fatalf("whoami: %d %v", st, u)
	}
	return edgeFixture{auth: s, userID: u["id"].(string), token: token, key: key, readOnlyKey: b["key"].(string)}
}

// ingressCase is one request through the ingress.
type ingressCase struct {
	name    string
	method  string
	path    string // sent raw, as written
	headers []string
	status  int
	// reaches: the upstream must see the request, with this user id
	// ("" = no identity at all).
	reaches bool
	userID  string
}

func ingressCases(f edgeFixture) []ingressCase {
	key, tok := f.key, "Bearer "+f.token
	forged := []string{
		"X-Zectre-User-Id", "evil", "x-zectre-user-email", "evil@example.com",
		"X-ZECTRE-USER-ADMIN", "true", "X-Zectre-Auth-Method", "evil", "X-Zectre-Scopes", "*",
		"X_Zectre_User_Id", "evil", "X.Zectre.User.Id", "evil", "X-Zectre-Api-Key-Id", "evil",
	}
	return []ingressCase{
		{name: "no credential", method: "GET", path: "/apps/1", status: 401},
		{name: "bad key", method: "GET", path: "/apps/1", headers: []string{"X-API-Key", "zec_notakey"}, status: 401},
		{name: "bad token", method: "GET", path: "/apps/1", headers: []string{"Authorization", "Bearer eyJ.e30.x"}, status: 401},
		{name: "key", method: "GET", path: "/apps/1", headers: []string{"X-API-Key", key}, status: 200, reaches: true, userID: f.userID},
		{name: "token", method: "POST", path: "/apps/1", headers: []string{"Authorization", tok}, status: 200, reaches: true, userID: f.userID},
		{name: "public", method: "GET", path: "/public/x", status: 200, reaches: true},
		{name: "missing scope", method: "POST", path: "/deploy/1", headers: []string{"X-API-Key", f.readOnlyKey}, status: 403},
		{name: "scope held", method: "POST", path: "/deploy/1", headers: []string{"X-API-Key", key}, status: 200, reaches: true, userID: f.userID},
		{name: "forged identity, no credential", method: "GET", path: "/public/x", headers: forged, status: 200, reaches: true},
		{name: "forged identity with a key", method: "GET", path: "/apps/1", headers: append([]string{"X-API-Key", f.readOnlyKey}, forged...),
			status: 200, reaches: true, userID: f.userID},
		{name: "forged identity on a required route", method: "GET", path: "/apps/1", headers: forged, status: 401},
		{name: "dot-dot out of public", method: "GET", path: "/public/../apps/1", status: 401},
		{name: "encoded dot-dot out of public", method: "GET", path: "/public/%2e%2e/apps/1", status: 401},
		{name: "query names public", method: "GET", path: "/apps/1?/public/x", status: 401},
		// The client names a public original itself, in the header pair the
		// ingress does not set (nginx passes client headers on).
		{name: "forged forwarded uri", method: "GET", path: "/apps/1", headers: []string{"X-Forwarded-Uri", "/public/x", "X-Forwarded-Method", "GET"}, status: 401},
		{name: "forged original uri", method: "GET", path: "/apps/1", headers: []string{"X-Original-URI", "/public/x", "X-Original-Method", "GET"}, status: 401},
		{name: "forged method", method: "POST", path: "/deploy/1", headers: []string{"X-API-Key", f.readOnlyKey, "X-Forwarded-Method", "GET", "X-Original-Method", "GET"}, status: 403},
	}
}

// checkIngress sends every case through the ingress at base.
func checkIngress(t *testing.T, base string, up *recorder, f edgeFixture, allowedStatuses map[int][]int) {
	for _, tc := range ingressCases(f) {
		t.Run(tc.name, func(t *testing.T) {
			up.take()
			status := rawRequest(t, base, tc.method, tc.path, tc.headers)
			want := append([]int{tc.status}, allowedStatuses[tc.status]...)
			if !containsInt(want, status) {
				t.Fatalf("status %d, want %v", status, want)
			}
			seen := up.take()
			if !tc.reaches {
				if len(seen) != 0 {
					t.Fatalf("the upstream was reached: %+v", seen)
				}
				return
			}
			if len(seen) != 1 {
				t.Fatalf("the upstream saw %d requests, want 1", len(seen))
			}
			h := seen[0].Header
			if got := h.Get("X-Zectre-User-Id"); got != tc.userID {
				t.Errorf("X-Zectre-User-Id = %q, want %q", got, tc.userID)
			}
			for name, vals := range h {
				canon := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
				if !strings.HasPrefix(canon, "x-zectre-") {
					continue
				}
				for _, v := range vals {
					if strings.Contains(v, "evil") || (canon == "x-zectre-user-admin" && v == "true") ||
						(tc.userID == "" && v != "") || strings.Contains(v, "{") {
						t.Errorf("forged or stray header reached the upstream: %s: %q", name, v)
					}
				}
			}
		})
	}
}

// rawRequest writes the request line as given, so that no client library
// cleans the path before the ingress sees it.
func rawRequest(t *testing.T, base, method, path string, headers []string) int {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	noteHeaders(headers...)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, host)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	if method == "POST" {
		b.WriteString("Content-Length: 0\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestNginxAuthRequest runs the nginx recipe of docs/edge.md.
func TestNginxAuthRequest(t *testing.T) {
	nginx := needProgram(t, "nginx")
	f := newEdgeFixture(t)
	up := newRecorder(t)
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf(nginxConf, dir, port, strings.TrimPrefix(f.auth.base, "http://"), up.hostPort())
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	runIngress(t, addr, filepath.Join(dir, "nginx.log"), nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	// nginx answers 500 when the auth subrequest returns anything but 2xx,
	// 401 or 403 (a refused path is a 400 there): still a denial.
	checkIngress(t, "http://"+addr, up, f, map[int][]int{401: {500}})
}

// nginxConf is the docs/edge.md recipe with the test's directories and
// ports: prefix dir, listen port, zectre-auth host:port, upstream host:port.
const nginxConf = `
daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
events { worker_connections 128; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;

    server {
        listen 127.0.0.1:%[2]d;

        location = /_zectre_verify {
            internal;
            proxy_pass http://%[3]s/api/v1/auth/verify;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-Uri "";
            proxy_set_header X-Forwarded-Method "";
        }

        location / {
            auth_request /_zectre_verify;
            auth_request_set $zectre_user_id $upstream_http_x_zectre_user_id;
            auth_request_set $zectre_user_email $upstream_http_x_zectre_user_email;
            auth_request_set $zectre_user_admin $upstream_http_x_zectre_user_admin;
            auth_request_set $zectre_auth_method $upstream_http_x_zectre_auth_method;
            auth_request_set $zectre_api_key_id $upstream_http_x_zectre_api_key_id;
            auth_request_set $zectre_scopes $upstream_http_x_zectre_scopes;
            auth_request_set $zectre_request_id $upstream_http_x_request_id;
            proxy_set_header X-Zectre-User-Id $zectre_user_id;
            proxy_set_header X-Zectre-User-Email $zectre_user_email;
            proxy_set_header X-Zectre-User-Admin $zectre_user_admin;
            proxy_set_header X-Zectre-Auth-Method $zectre_auth_method;
            proxy_set_header X-Zectre-Api-Key-Id $zectre_api_key_id;
            proxy_set_header X-Zectre-Scopes $zectre_scopes;
            proxy_set_header X-Request-Id $zectre_request_id;
            proxy_pass http://%[4]s;
        }
    }
}
`

// TestCaddyForwardAuth runs the Caddy recipe of docs/edge.md.
func TestCaddyForwardAuth(t *testing.T) {
	caddy := needProgram(t, "caddy")
	f := newEdgeFixture(t)
	up := newRecorder(t)
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf(caddyConf, dir, port, strings.TrimPrefix(f.auth.base, "http://"), up.hostPort())
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	runIngress(t, addr, filepath.Join(dir, "caddy.log"), caddy, "run", "--config", path, "--adapter", "caddyfile")
	checkIngress(t, "http://"+addr, up, f, map[int][]int{401: {400}})
}

// caddyConf is the docs/edge.md recipe: storage dir, listen port,
// zectre-auth host:port, upstream host:port.
const caddyConf = `{
	admin off
	auto_https off
	storage file_system %[1]s/caddy
}

http://127.0.0.1:%[2]d {
	bind 127.0.0.1
	route {
		request_header -X-Zectre*
		request_header -X_zectre*
		request_header -X.zectre*
		forward_auth %[3]s {
			uri /api/v1/auth/verify
			header_up -X-Original-URI
			header_up -X-Original-Method
			copy_headers X-Zectre-User-Id X-Zectre-User-Email X-Zectre-User-Admin X-Zectre-Auth-Method X-Zectre-Api-Key-Id X-Zectre-Scopes X-Request-Id
		}
		reverse_proxy %[4]s
	}
}
`
