package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/zectre/zectre-auth/cache/cachetest"
)

// wsEcho is a real WebSocket upstream (github.com/coder/websocket): it
// records each upgrade request's headers and echoes every message until
// the client goes; each connection's close code goes to ends.
type wsEcho struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []http.Header
	ends chan websocket.StatusCode
}

func startWSEcho(t *testing.T) *wsEcho {
	u := &wsEcho{ends: make(chan websocket.StatusCode, 4096)}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		ctx := context.Background()
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				u.ends <- websocket.CloseStatus(err)
				return
			}
			if err := c.Write(ctx, typ, data); err != nil {
				u.ends <- -1
				return
			}
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *wsEcho) takeSeen() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.seen
	u.seen = nil
	return s
}

// wsDial opens a WebSocket to url with the given headers (name, value).
func wsDial(t *testing.T, url string, headers ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	noteHeaders(headers...)
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Add(headers[i], headers[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h, CompressionMode: websocket.CompressionDisabled})
}

func wsMustDial(t *testing.T, url string, headers ...string) *websocket.Conn {
	t.Helper()
	c, resp, err := wsDial(t, url, headers...)
	if err != nil {
		st := 0
		if resp != nil {
			st = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, st)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// wsEcho sends msg on c and expects it back.
func wsRoundTrip(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_, data, err := c.Read(ctx)
	if err != nil || string(data) != msg {
		t.Fatalf("echo: %q %v", data, err)
	}
}

// wsClosedWithin reads c until it ends and returns the close code, failing
// when that takes longer than limit.
func wsClosedWithin(t *testing.T, c *websocket.Conn, limit time.Duration) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("the tunnel did not end within %s", limit)
			}
			return websocket.CloseStatus(err)
		}
	}
}

func wsURL(s *server, path string) string {
	return "ws://" + strings.TrimPrefix(s.base, "http://") + path
}

// TestReplicasWebSocketRevocation runs two replicas over one Redis and one
// PostgreSQL: tunnels opened through replica B close with 1008 within a
// second of their key's deletion through replica A, and of their user's
// disabling by the admin command (a third process); a bystander's tunnel
// stays open. Then B's shutdown closes the last tunnel with 1001 at the
// end of shutdown_timeout.
func TestReplicasWebSocketRevocation(t *testing.T) {
	up := startWSEcho(t)
	environ, dir := replicaEnv(t, cachetest.RedisURL(t), up.srv.URL)
	environ = append(environ, "ZECTRE_AUTH_SHUTDOWN_TIMEOUT=1s")
	a := start(t, dir, environ)
	b := start(t, t.TempDir(), environ)

	token, key := a.account("ws-replicas@example.com")
	_, other := a.account("ws-bystander@example.com")
	byKey := wsMustDial(t, wsURL(b, "/chat"), "X-API-Key", key)
	byToken := wsMustDial(t, wsURL(b, "/chat"), "Authorization", "Bearer "+token)
	bystander := wsMustDial(t, wsURL(b, "/chat"), "X-API-Key", other)
	for _, c := range []*websocket.Conn{byKey, byToken, bystander} {
		wsRoundTrip(t, c, "through replica B")
	}
	if seen := up.takeSeen(); len(seen) != 3 || seen[0].Get("X-Zectre-User-Id") == "" {
		t.Fatalf("upstream saw %d upgrades: %v", len(seen), seen)
	}

	st, list := a.call("GET", "/api/v1/api-keys", "", "Authorization", "Bearer "+token)
	if st != 200 {
		t.Fatalf("list keys: %d", st)
	}
	id := list["data"].([]any)[0].(map[string]any)["id"].(string)
	start := time.Now()
	if st, _ := a.call("DELETE", "/api/v1/api-keys/"+id, "", "Authorization", "Bearer "+token); st != 204 {
		t.Fatalf("delete key: %d", st)
	}
	if code := wsClosedWithin(t, byKey, time.Second); code != websocket.StatusPolicyViolation {
		t.Fatalf("the deleted key's tunnel on B ended with %d, want 1008", code)
	}
	t.Logf("key deleted through A, its tunnel on B closed after %s", time.Since(start))
	if code := <-up.ends; code != websocket.StatusPolicyViolation {
		t.Fatalf("the upstream saw %d, want 1008", code)
	}
	wsRoundTrip(t, byToken, "the token's tunnel is the user's, not the key's")

	start = time.Now()
	if _, errOut, code := command(t, dir, environ, "users", "disable", "ws-replicas@example.com"); code != 0 {
		t.Fatalf("users disable: %d %s", code, errOut)
	}
	if code := wsClosedWithin(t, byToken, time.Second); code != websocket.StatusPolicyViolation {
		t.Fatalf("the disabled user's token tunnel on B ended with %d, want 1008", code)
	}
	t.Logf("user disabled by the admin command, its token's tunnel on B closed after %s (the command's start included)", time.Since(start))
	wsRoundTrip(t, bystander, "still open")

	metrics := scrape(t, b.admin+"/metrics")
	if metricSum(metrics, "zectre_auth_websocket_tunnels_open") != 1 ||
		metricSum(metrics, "zectre_auth_websocket_upgrades_total", `result="opened"`) != 3 ||
		metricSum(metrics, "zectre_auth_websocket_bytes_total", `direction="to_upstream"`) == 0 ||
		metricSum(metrics, "zectre_auth_websocket_bytes_total", `direction="to_client"`) == 0 {
		t.Errorf("tunnel metrics of B: open %v, opened %v, bytes %v / %v",
			metricSum(metrics, "zectre_auth_websocket_tunnels_open"),
			metricSum(metrics, "zectre_auth_websocket_upgrades_total", `result="opened"`),
			metricSum(metrics, "zectre_auth_websocket_bytes_total", `direction="to_upstream"`),
			metricSum(metrics, "zectre_auth_websocket_bytes_total", `direction="to_client"`))
	}

	// SIGINT skips shutdown_delay: the tunnel runs on until the end of
	// shutdown_timeout (1 s) and is then closed with 1001.
	start = time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := wsClosedWithin(t, bystander, 5*time.Second); code != websocket.StatusGoingAway {
		t.Fatalf("shutdown closed the tunnel with %d, want 1001", code)
	}
	closed := time.Since(start)
	select {
	case err := <-b.done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, b.logs())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("replica B did not exit")
	}
	t.Logf("shutdown: tunnel closed after %s, process exited after %s", closed, time.Since(start))
	if closed < 900*time.Millisecond || closed > 3*time.Second {
		t.Errorf("the tunnel was closed %s after SIGINT, want about shutdown_timeout (1s)", closed)
	}
}

// TestWebSocketIdleTunnelsMemory opens 1 000 idle tunnels at once through
// one process, then 1 000 more, and reports the memory each costs: the Go
// heap and stacks in use (live memory, read from /metrics) for the first
// thousand, and the growth of the resident set for the second (the first
// thousand's resident set is blurred by the login's password hash, whose
// memory the runtime gives back to the system only slowly).
func TestWebSocketIdleTunnelsMemory(t *testing.T) {
	const n = 1000
	up := startWSEcho(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "zectre-auth.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("default_auth = \"required\"\nupstream = %q\n", up.srv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, dir, env("ZECTRE_AUTH_CONFIG="+cfg))
	_, key := s.account("ws-memory@example.com")
	warm := wsMustDial(t, wsURL(s, "/warm"), "X-API-Key", key)
	wsRoundTrip(t, warm, "warm")
	warm.Close(websocket.StatusNormalClosure, "")
	<-up.ends

	var conns []*websocket.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.CloseNow()
		}
	})
	open := func(k int) {
		for i := 0; i < k; i++ {
			c, _, err := wsDial(t, wsURL(s, "/idle/"+strconv.Itoa(len(conns))), "X-API-Key", key)
			if err != nil {
				t.Fatalf("tunnel %d: %v", len(conns), err)
			}
			conns = append(conns, c)
		}
		wsRoundTrip(t, conns[len(conns)-1], "the last one works")
		time.Sleep(300 * time.Millisecond)
	}
	inUse := func() (float64, float64) {
		m := scrape(t, s.admin+"/metrics")
		if got := metricSum(m, "zectre_auth_websocket_tunnels_open"); int(got) != len(conns) {
			t.Fatalf("%v tunnels open, want %d", got, len(conns))
		}
		return metricSum(m, "go_memstats_heap_inuse_bytes") + metricSum(m, "go_memstats_stack_inuse_bytes"), metricSum(m, "go_goroutines")
	}
	live0, g0 := inUse()
	open(n)
	live1, g1 := inUse()
	rss1 := rss(t, s)
	open(n)
	rss2 := rss(t, s)
	t.Logf("%d idle tunnels: Go heap and stacks in use %.1f KiB per tunnel, %.1f goroutines per tunnel; resident set %d KiB with %d tunnels, %d KiB with %d: %.1f KiB per tunnel",
		n, (live1-live0)/1024/n, (g1-g0)/n, rss1>>10, n, rss2>>10, 2*n, float64(rss2-rss1)/1024/n)
	if per := (live1 - live0) / n; per > 128<<10 {
		t.Errorf("an idle tunnel holds %.0f KiB, want well under 128 KiB", per/1024)
	}
}

// rss is the resident memory of the server's process, in bytes.
func rss(t *testing.T, s *server) int64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestNginxAuthRequestWebSocket: real nginx tunnels a WebSocket itself and
// asks zectre-auth about the upgrade request (auth_request, the docs/edge.md
// recipe plus nginx's WebSocket lines): the ordinary decision applies, and
// the upstream sees the trusted identity only.
func TestNginxAuthRequestWebSocket(t *testing.T) {
	nginx := needProgram(t, "nginx")
	f := newEdgeFixture(t)
	up := startWSEcho(t)
	dir := t.TempDir()
	port := freePort(t)
	conf := strings.Replace(nginxConf, "            proxy_pass http://%[4]s;\n", nginxWebSocketLines+"            proxy_pass http://%[4]s;\n", 1)
	if conf == nginxConf {
		t.Fatal("the nginx recipe changed: no proxy_pass line to add the WebSocket lines to")
	}
	conf = fmt.Sprintf(conf, dir, port, strings.TrimPrefix(f.auth.base, "http://"), strings.TrimPrefix(up.srv.URL, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	runIngress(t, addr, filepath.Join(dir, "nginx.log"), nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	base := "ws://" + addr

	c := wsMustDial(t, base+"/apps/chat", "X-API-Key", f.key, "X-Zectre-User-Id", "forged", "X-Zectre-User-Admin", "true")
	wsRoundTrip(t, c, "through nginx")
	seen := up.takeSeen()
	if len(seen) != 1 {
		t.Fatalf("upstream saw %d upgrades", len(seen))
	}
	h := seen[0]
	if got := h.Values("X-Zectre-User-Id"); len(got) != 1 || got[0] != f.userID {
		t.Errorf("X-Zectre-User-Id at the upstream: %q, want %q", got, f.userID)
	}
	if got := h.Values("X-Zectre-User-Admin"); len(got) != 1 || got[0] != "false" {
		t.Errorf("X-Zectre-User-Admin at the upstream: %q, want false", got)
	}
	if got := h.Get("X-Zectre-Auth-Method"); got != "api_key" {
		t.Errorf("X-Zectre-Auth-Method at the upstream: %q", got)
	}
	c.Close(websocket.StatusNormalClosure, "")

	for _, tc := range []struct {
		name, path string
		headers    []string
		status     int
	}{
		{"no credential", "/apps/chat", nil, 401},
		{"forged identity only", "/apps/chat", []string{"X-Zectre-User-Id", f.userID}, 401},
		{"missing scope", "/deploy/live", []string{"X-API-Key", f.readOnlyKey}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, err := wsDial(t, base+tc.path, tc.headers...)
			if err == nil {
				c.CloseNow()
				t.Fatal("a tunnel opened")
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("resp %v, err %v; want %d", resp, err, tc.status)
			}
			if seen := up.takeSeen(); len(seen) != 0 {
				t.Fatalf("a refused upgrade reached the upstream: %v", seen)
			}
		})
	}
}

// nginxWebSocketLines are what nginx needs to tunnel a WebSocket itself:
// HTTP/1.1 upstream and the upgrade headers, which it does not pass on by
// default.
const nginxWebSocketLines = `            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
`
