package handlers_test

// A9 of the differential test: an upstream that answers 101 to a request
// whose Upgrade the edge stripped, and writes after it bytes that read as
// a second response. The edge must answer 502 and close that connection,
// so those bytes never become the answer to a later request.

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/config"
)

const (
	unaskedUpgrade = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	smuggled       = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nsmuggled"
	realAnswer     = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nreal answer"
)

// upgrader is a raw TCP upstream: requests under /upgrade get the unasked
// 101 and then a smuggled response (and nothing more on that connection);
// every other request gets a well-formed answer.
type upgrader struct {
	addr     string
	mu       sync.Mutex
	upgraded int // connections that were sent the 101
	closed   int // of those, how many the edge closed
}

func startUpgrader(t *testing.T) *upgrader {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	u := &upgrader{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go u.serve(c)
		}
	}()
	return u
}

func (u *upgrader) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		if !strings.HasPrefix(req.URL.Path, "/upgrade") {
			if _, err := io.WriteString(c, realAnswer); err != nil {
				return
			}
			continue
		}
		io.WriteString(c, unaskedUpgrade)
		// The second response comes a moment later, as a server that
		// switched protocols would write, once the 101 has been read.
		time.Sleep(50 * time.Millisecond)
		io.WriteString(c, smuggled)
		u.mu.Lock()
		u.upgraded++
		u.mu.Unlock()
		// Whatever else comes on this connection is read and never
		// answered: a pooled reuse would get the smuggled bytes.
		io.Copy(io.Discard, br)
		u.mu.Lock()
		u.closed++
		u.mu.Unlock()
		return
	}
}

func (u *upgrader) counts() (upgraded, closed int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.upgraded, u.closed
}

// TestDifferentialUnaskedUpgrade: each 101 is a 502 UPSTREAM_UNAVAILABLE
// to the client, its connection is closed, and the request after it gets
// the upstream's real answer.
func TestDifferentialUnaskedUpgrade(t *testing.T) {
	none := strings.NewReplacer()
	for _, row := range []diffRow{
		{name: "plain request", target: "/upgrade/a"},
		// Upgrade: websocket without the upgrade token in Connection is no
		// WebSocket upgrade (RFC 6455 §4.1); a decided one is tunnelled
		// (websocket_test.go).
		{name: "the client named websocket without Connection: upgrade", target: "/upgrade/b", headers: []string{"Upgrade", "websocket", "Connection", "keep-alive"}},
		{name: "the client asked for an unknown upgrade", target: "/upgrade/e", headers: []string{"Upgrade", "TLS/1.2", "Connection", "Upgrade"}},
		{name: "h2c", target: "/upgrade/c", headers: []string{"Upgrade", "h2c", "HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA", "Connection", "Upgrade, HTTP2-Settings"}},
		{name: "POST", method: "POST", target: "/upgrade/d", body: "hello"},
	} {
		t.Run(row.name, func(t *testing.T) {
			// An edge and an upstream of its own, so that no pool carries
			// one case's connection into the next. A short upstream
			// timeout: a request stuck on a reused connection fails in a
			// second rather than at the client's deadline.
			up := startUpgrader(t)
			e := startEdge(t, edgeOptions{upstream: "http://" + up.addr, trusted: config.DefaultTrustedProxies(), timeout: time.Second})
			r := sendRaw(e.addr, row, none)
			if r.status != 502 || r.code() != "UPSTREAM_UNAVAILABLE" || r.header.Get("X-Request-Id") == "" {
				t.Errorf("the unasked 101: %d %q (request id %q), want 502 UPSTREAM_UNAVAILABLE; body %.200s",
					r.status, r.code(), r.header.Get("X-Request-Id"), r.body)
			}
			// Several requests after it, so that any pooled connection is tried.
			for j := range 3 {
				r := sendRaw(e.addr, diffRow{target: "/after"}, none)
				if r.status != 200 || string(r.body) != "real answer" {
					t.Errorf("request %d after the 101: %d %q, want the upstream's real answer", j+1, r.status, r.body)
					break
				}
			}
			deadline := time.Now().Add(time.Second)
			for {
				upgraded, closed := up.counts()
				if upgraded == 1 && closed == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d connections answered 101, the edge closed %d of them", upgraded, closed)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
