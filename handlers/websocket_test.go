package handlers_test

// WebSocket through proxy mode, with a real WebSocket library on both
// sides (github.com/coder/websocket: a complete RFC 6455 client and server
// with ping/pong, fragmentation and close handshakes, so the tunnel is
// tested against what browsers and servers really send, not a model).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/zectre/zectre-auth/config"
)

// wsUpstream is a real WebSocket server behind the edge. It records each
// upgrade request, echoes every message with its type, greets each client
// with a message of its own, and on command pings the client ("ping-me")
// or closes with 4002 ("close-4002"). Each connection's end, as its Read
// saw it, goes to ends.
type wsUpstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []http.Header
	ends chan wsEnd
}

type wsEnd struct {
	code websocket.StatusCode // -1: the connection broke without a close frame
	err  error
}

func startWSUpstream(t testing.TB) *wsUpstream {
	u := &wsUpstream{ends: make(chan wsEnd, 2048)}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/ws/refuse") {
			http.Error(w, "not here", http.StatusForbidden)
			return
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		c.SetReadLimit(32 << 20)
		ctx := context.Background()
		if err := c.Write(ctx, websocket.MessageText, []byte("hello from upstream")); err != nil {
			u.ends <- wsEnd{-1, err}
			return
		}
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				u.ends <- wsEnd{websocket.CloseStatus(err), err}
				return
			}
			switch string(data) {
			case "ping-me":
				go func() {
					pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					defer cancel()
					msg := "pinged"
					if err := c.Ping(pctx); err != nil {
						msg = "ping failed: " + err.Error()
					}
					_ = c.Write(ctx, websocket.MessageText, []byte(msg))
				}()
			case "close-4002":
				_ = c.Close(4002, "server says bye")
				u.ends <- wsEnd{4002, nil}
				return
			default:
				if err := c.Write(ctx, typ, data); err != nil {
					u.ends <- wsEnd{-1, err}
					return
				}
			}
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *wsUpstream) takeSeen() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.seen
	u.seen = nil
	return s
}

// end waits for the next connection of the upstream to end.
func (u *wsUpstream) end(t testing.TB, within time.Duration) wsEnd {
	t.Helper()
	select {
	case e := <-u.ends:
		return e
	case <-time.After(within):
		t.Fatalf("no upstream connection ended within %s", within)
		return wsEnd{}
	}
}

var wsRoutes = []config.Route{
	{Path: "/ws/**", Auth: config.AuthRequired},
	{Path: "/open/**", Auth: config.AuthOptional},
	{Path: "/upgrade/**", Auth: config.AuthPublic},
}

func startWSEdge(t testing.TB, up *wsUpstream, edit func(*config.Config)) *edge {
	return startEdge(t, edgeOptions{routes: wsRoutes, defaultAuth: config.AuthRequired, upstream: up.srv.URL, edit: edit})
}

// dialWS opens a WebSocket through the edge, headers as name, value pairs.
func dialWS(t testing.TB, e *edge, path string, headers ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Add(headers[i], headers[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+e.addr+path, &websocket.DialOptions{
		HTTPHeader: h, CompressionMode: websocket.CompressionDisabled,
	})
	if c != nil {
		c.SetReadLimit(32 << 20)
	}
	return c, resp, err
}

func mustDialWS(t testing.TB, e *edge, path string, headers ...string) *websocket.Conn {
	t.Helper()
	c, resp, err := dialWS(t, e, path, headers...)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func readMsg(t testing.TB, c *websocket.Conn) (websocket.MessageType, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	typ, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, data
}

func writeMsg(t testing.TB, c *websocket.Conn, typ websocket.MessageType, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Write(ctx, typ, data); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// TestWebSocketTunnel: an authenticated client talks through the edge to a
// real WebSocket server: text and binary both ways, a 10 MiB message,
// pings each way, and close codes from each side; the upstream sees the
// trusted identity and none of the identity headers the client forged.
func TestWebSocketTunnel(t *testing.T) {
	up := startWSUpstream(t)
	e := startWSEdge(t, up, nil)

	c := mustDialWS(t, e, "/ws/chat?room=1", "X-API-Key", e.key,
		"X-Zectre-User-Id", "forged", "X_Zectre_User_Admin", "true", "X-Zectre-Scopes", "*",
		"Sec-WebSocket-Protocol", "chat.v1", "X-App", "kept")
	if typ, data := readMsg(t, c); typ != websocket.MessageText || string(data) != "hello from upstream" {
		t.Fatalf("greeting: %v %q", typ, data)
	}
	seen := up.takeSeen()
	if len(seen) != 1 {
		t.Fatalf("upstream saw %d upgrade requests, want 1", len(seen))
	}
	h := seen[0]
	want := map[string][]string{
		"x-zectre-user-id": {e.userID}, "x-zectre-user-email": {"edge@example.com"}, "x-zectre-user-admin": {"false"},
		"x-zectre-auth-method": {"api_key"}, "x-zectre-api-key-id": {e.keyID}, "x-zectre-scopes": {"*"},
	}
	got := identityHeaders(h)
	for k, v := range want {
		if strings.Join(got[k], "|") != strings.Join(v, "|") {
			t.Errorf("upstream %s = %q, want %q", k, got[k], v)
		}
		delete(got, k)
	}
	if len(got) > 0 {
		t.Errorf("forged identity headers reached the upstream: %v", got)
	}
	if h.Get("Upgrade") != "websocket" || !strings.EqualFold(h.Get("Connection"), "upgrade") ||
		h.Get("Sec-WebSocket-Key") == "" || h.Get("Sec-WebSocket-Version") != "13" || h.Get("X-App") != "kept" {
		t.Errorf("upgrade headers at the upstream: %v", h)
	}
	if h.Get("X-Request-Id") == "" {
		t.Error("no request id at the upstream")
	}

	// Text and binary, each echoed back: both directions.
	writeMsg(t, c, websocket.MessageText, []byte("héllo"))
	if typ, data := readMsg(t, c); typ != websocket.MessageText || string(data) != "héllo" {
		t.Fatalf("text echo: %v %q", typ, data)
	}
	bin := []byte{0, 1, 2, 0xff, 0xfe, '\r', '\n'}
	writeMsg(t, c, websocket.MessageBinary, bin)
	if typ, data := readMsg(t, c); typ != websocket.MessageBinary || !bytes.Equal(data, bin) {
		t.Fatalf("binary echo: %v %x", typ, data)
	}
	big := make([]byte, 10<<20)
	rand.Read(big)
	writeMsg(t, c, websocket.MessageBinary, big)
	if typ, data := readMsg(t, c); typ != websocket.MessageBinary || !bytes.Equal(data, big) {
		t.Fatalf("10 MiB echo: %v, %d bytes, equal %v", typ, len(data), bytes.Equal(data, big))
	}

	// Pings: the upstream pings the client (answered by the client's
	// reader), the client pings the upstream (answered by its reader).
	pinged := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		pinged <- c.Ping(ctx)
	}()
	writeMsg(t, c, websocket.MessageText, []byte("ping-me"))
	if _, data := readMsg(t, c); string(data) != "pinged" {
		t.Fatalf("upstream's ping: %q", data)
	}
	if err := <-pinged; err != nil {
		t.Fatalf("client's ping: %v", err)
	}

	// The client closes with its code: the upstream reads it.
	if err := c.Close(4001, "client says bye"); err != nil {
		t.Fatalf("close: %v", err)
	}
	if end := up.end(t, 5*time.Second); end.code != 4001 {
		t.Fatalf("upstream saw close code %d (%v), want 4001", end.code, end.err)
	}

	// The upstream closes with its code: the client reads it.
	c2 := mustDialWS(t, e, "/ws/other", "Authorization", "Bearer "+e.token)
	readMsg(t, c2)
	writeMsg(t, c2, websocket.MessageText, []byte("close-4002"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := c2.Read(ctx)
	if code := websocket.CloseStatus(err); code != 4002 {
		t.Fatalf("client saw %v (code %d), want close code 4002", err, code)
	}
	up.end(t, 5*time.Second)
	waitTunnels(t, e, 0)
}

// waitTunnels waits until n tunnels are open.
func waitTunnels(t testing.TB, e *edge, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.svc.Tunnels.Open() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d tunnels open, want %d", e.svc.Tunnels.Open(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWebSocketRefused: an upgrade is decided like any request: without a
// credential on a required route it is 401 and never reaches the upstream;
// with a bad one 401; an upstream that refuses the upgrade has its answer
// relayed; beyond max_websocket_conns it is 503.
func TestWebSocketRefused(t *testing.T) {
	up := startWSUpstream(t)
	e := startWSEdge(t, up, func(c *config.Config) { c.MaxWebSocketConns = 1 })

	for _, tc := range []struct {
		name, path string
		headers    []string
		status     int
		code       string
	}{
		{"no credential", "/ws/chat", nil, 401, "UNAUTHORIZED"},
		{"bad key", "/ws/chat", []string{"X-API-Key", "zk_not_a_key"}, 401, "INVALID_API_KEY"},
		{"forged identity alone", "/ws/chat", []string{"X-Zectre-User-Id", e.userID}, 401, "UNAUTHORIZED"},
		{"upstream refuses", "/ws/refuse", []string{"X-API-Key", e.key}, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, err := dialWS(t, e, tc.path, tc.headers...)
			if err == nil {
				c.CloseNow()
				t.Fatal("a tunnel opened")
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("resp %v, err %v; want status %d", resp, err, tc.status)
			}
			if tc.code != "" {
				body, _ := io.ReadAll(resp.Body)
				if code := (rawReply{body: body}).code(); code != tc.code {
					t.Fatalf("code %q (%s), want %s", code, body, tc.code)
				}
			}
			seen := up.takeSeen()
			if tc.status == 401 && len(seen) != 0 {
				t.Fatalf("a refused upgrade reached the upstream: %v", seen)
			}
		})
	}
	waitTunnels(t, e, 0)
	// Each decision has its audit line, as for any request.
	if err := e.api.Audit.Flush(); err != nil {
		t.Fatal(err)
	}
	log := e.audit.String()
	if !strings.Contains(log, `"path":"/ws/chat"`) || !strings.Contains(log, `"code":"INVALID_API_KEY"`) || strings.Contains(log, e.key) {
		t.Errorf("audit lines of the refused upgrades:\n%s", log)
	}

	c := mustDialWS(t, e, "/ws/one", "X-API-Key", e.key)
	readMsg(t, c)
	_, resp, err := dialWS(t, e, "/ws/two", "X-API-Key", e.key)
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("second tunnel over max_websocket_conns=1: %v %v", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if code := (rawReply{body: body}).code(); code != "SERVICE_UNAVAILABLE" {
		t.Fatalf("code %q, want SERVICE_UNAVAILABLE", code)
	}
	c.Close(websocket.StatusNormalClosure, "")
	up.end(t, 5*time.Second)
	waitTunnels(t, e, 0)
	c3 := mustDialWS(t, e, "/ws/three", "X-API-Key", e.key) // the place was given back
	readMsg(t, c3)
}

// TestWebSocketUpgradeTokens: only an upgrade to websocket tunnels. h2c,
// TLS/1.x, an unknown token, or websocket without "upgrade" in Connection
// are stripped like any hop-by-hop header; an upstream that switches
// anyway gets the client a 502, never a tunnel.
func TestWebSocketUpgradeTokens(t *testing.T) {
	u := startUpgrader(t)
	e := startEdge(t, edgeOptions{routes: wsRoutes, defaultAuth: config.AuthRequired, upstream: "http://" + u.addr})
	for _, tc := range []struct {
		name    string
		headers []string
	}{
		{"h2c", []string{"Connection", "Upgrade, HTTP2-Settings", "Upgrade", "h2c", "HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA"}},
		{"TLS", []string{"Connection", "upgrade", "Upgrade", "TLS/1.2"}},
		{"unknown", []string{"Connection", "upgrade", "Upgrade", "spdy/3"}},
		{"websocket without Connection upgrade", []string{"Connection", "keep-alive", "Upgrade", "websocket", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version", "13"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.raw("GET", "/upgrade/x", tc.headers...)
			if r.status != 502 || r.code() != "UPSTREAM_UNAVAILABLE" {
				t.Fatalf("got %d %s %s, want 502 UPSTREAM_UNAVAILABLE", r.status, r.code(), r.body)
			}
			if n := e.svc.Tunnels.Open(); n != 0 {
				t.Fatalf("%d tunnels open", n)
			}
		})
	}
	if got := e.svc.Tunnels.Opened(0); got != 0 {
		t.Fatalf("%d tunnels were opened", got)
	}
}

// TestWebSocketRevocation: deleting the key a tunnel was opened with, or
// disabling its user, closes the tunnel within a second, with close code
// 1008 to both sides; a tunnel of another key stays open.
func TestWebSocketRevocation(t *testing.T) {
	up := startWSUpstream(t)
	e := startWSEdge(t, up, nil)
	other, _ := e.createKey(e.token, map[string]any{"name": "other"})

	c := mustDialWS(t, e, "/ws/a", "X-API-Key", e.key)
	readMsg(t, c)
	kept := mustDialWS(t, e, "/ws/b", "X-API-Key", other)
	readMsg(t, kept)

	start := time.Now()
	r := e.do("DELETE", "/api/v1/api-keys/"+e.keyID, nil, "Authorization", "Bearer "+e.token)
	if r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	expectClosedWith(t, c, websocket.StatusPolicyViolation, time.Second)
	t.Logf("tunnel closed %s after the key's deletion", time.Since(start))
	if end := up.end(t, time.Second); end.code != websocket.StatusPolicyViolation {
		t.Fatalf("upstream saw %d (%v), want 1008", end.code, end.err)
	}
	writeMsg(t, kept, websocket.MessageText, []byte("still here"))
	if _, data := readMsg(t, kept); string(data) != "still here" {
		t.Fatalf("the other key's tunnel: %q", data)
	}

	// Disabling the user closes every tunnel of that user, tokens too.
	tok := mustDialWS(t, e, "/ws/c", "Authorization", "Bearer "+e.token)
	readMsg(t, tok)
	if _, err := e.store.SetDisabled(t.Context(), "edge@example.com", true); err != nil {
		t.Fatal(err)
	}
	expectClosedWith(t, kept, websocket.StatusPolicyViolation, time.Second)
	expectClosedWith(t, tok, websocket.StatusPolicyViolation, time.Second)
	waitTunnels(t, e, 0)
}

// expectClosedWith reads c until it ends and checks the close code.
func expectClosedWith(t testing.TB, c *websocket.Conn, code websocket.StatusCode, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		if got := websocket.CloseStatus(err); got != code {
			t.Fatalf("tunnel ended with %v (code %d), want %d within %s", err, got, code, within)
		}
		return
	}
}

// TestWebSocketShutdownAndIdle: Tunnels.Shutdown lets open tunnels run to
// the end of its context and then closes them with 1001; a tunnel idle for
// websocket_idle_timeout is closed with 1001 too, one that keeps moving is
// not.
func TestWebSocketShutdownAndIdle(t *testing.T) {
	up := startWSUpstream(t)
	e := startWSEdge(t, up, func(c *config.Config) { c.WebSocketIdleTimeout = config.Duration(400 * time.Millisecond) })

	busy := mustDialWS(t, e, "/ws/busy", "X-API-Key", e.key)
	readMsg(t, busy)
	idle := mustDialWS(t, e, "/ws/idle", "X-API-Key", e.key)
	readMsg(t, idle)
	idleEnded := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, _, err := idle.Read(ctx)
		idleEnded <- err
	}()
	for i := 0; i < 8; i++ { // 800 ms of traffic, twice the idle timeout
		writeMsg(t, busy, websocket.MessageText, []byte("tick"))
		readMsg(t, busy)
		time.Sleep(100 * time.Millisecond)
	}
	if err := <-idleEnded; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("idle tunnel ended with %v, want 1001", err)
	}
	up.end(t, time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	done := make(chan struct{})
	go func() { e.svc.Tunnels.Shutdown(ctx); close(done) }()
	writeMsg(t, busy, websocket.MessageText, []byte("during the drain"))
	if _, data := readMsg(t, busy); string(data) != "during the drain" {
		t.Fatalf("during the drain: %q", data)
	}
	expectClosedWith(t, busy, websocket.StatusGoingAway, 2*time.Second)
	<-done
	if d := time.Since(start); d < 150*time.Millisecond || d > time.Second {
		t.Fatalf("shutdown closed the tunnel after %s, want about 200ms", d)
	}
	if end := up.end(t, time.Second); end.code != websocket.StatusGoingAway {
		t.Fatalf("upstream saw %d (%v), want 1001", end.code, end.err)
	}
	_, resp, err := dialWS(t, e, "/ws/late", "X-API-Key", e.key)
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("a tunnel after shutdown: %v %v", resp, err)
	}
}

// rawSwitcher is a raw TCP upstream that answers every request with head
// and, in the same write, after: what a server that switches writes at once.
func rawSwitcher(t *testing.T, head, after string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, head+after)
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestWebSocketSwitchEdgeCases: bytes the upstream writes together with its
// 101 reach the client; a 101 to another protocol, or one after a 100, is
// handled as the contract says.
func TestWebSocketSwitchEdgeCases(t *testing.T) {
	const wsHead = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	const frame = "\x81\x05hello"
	upgrade := []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version", "13"}
	for _, tc := range []struct {
		name, head string
		status     int
		want       string // what the client reads after the head
	}{
		{"frame with the 101", wsHead, 101, frame},
		{"after a 100", "HTTP/1.1 100 Continue\r\n\r\n" + wsHead, 101, frame},
		{"101 to h2c", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", 502, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEdge(t, edgeOptions{routes: wsRoutes, upstream: rawSwitcher(t, tc.head, frame)})
			c, err := net.Dial("tcp", e.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			var b strings.Builder
			b.WriteString("GET /upgrade/x HTTP/1.1\r\nHost: app.example\r\n")
			for i := 0; i+1 < len(upgrade); i += 2 {
				b.WriteString(upgrade[i] + ": " + upgrade[i+1] + "\r\n")
			}
			b.WriteString("\r\n")
			io.WriteString(c, b.String())
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != 101 {
				if n := e.svc.Tunnels.Open(); n != 0 {
					t.Fatalf("%d tunnels open", n)
				}
				return
			}
			if resp.Header.Get("Sec-WebSocket-Accept") == "" || resp.Header.Get("X-Request-Id") == "" {
				t.Fatalf("101 head: %v", resp.Header)
			}
			got := make([]byte, len(tc.want))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != tc.want {
				t.Fatalf("after the head: %q %v, want %q", got, err, tc.want)
			}
		})
	}
}
