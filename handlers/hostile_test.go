package handlers_test

// Hostile input drills (docs/drills.md, "Hostile input"): each attacks a
// server built like the service's, with the limits under test, checks the
// answer, and checks that the server still serves ordinary requests after.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/handlers"
	"github.com/zectre/zectre-auth/proxy"
)

// bodyRecorder is an upstream that reads every request body to its end and
// records how many bytes arrived and whether the body ended cleanly.
type bodyRecorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []bodySeen
}

type bodySeen struct {
	path string // the raw request target
	n    int64
	err  error // nil: the body ended where its framing said
}

func newBodyRecorder(t *testing.T) *bodyRecorder {
	u := &bodyRecorder{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, bodySeen{r.RequestURI, n, err})
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"upstream_read":%d}`, n)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *bodyRecorder) take() []bodySeen {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.seen
	u.seen = nil
	return s
}

// waitSeen waits (generously) until the upstream has finished n requests.
func (u *bodyRecorder) waitSeen(t *testing.T, n int) []bodySeen {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		u.mu.Lock()
		got := len(u.seen)
		u.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			return u.take()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hostileServer is the Authentication API and the edge behind one server
// with the limits under test, over SQLite, forwarding every path outside
// the API to a bodyRecorder (default auth: optional).
type hostileServer struct {
	*service
	addr  string
	log   *auditBuffer // the server's log, debug level included
	up    *bodyRecorder
	token string
}

// bodyLimits are the API's and the edge's body limits (0: their defaults).
type bodyLimits struct{ api, edge int }

func startHostile(t *testing.T, lim handlers.ServerLimits, body bodyLimits) *hostileServer {
	t.Helper()
	api := newTestAPI(t, storeURLForOneStore(t), testPolicy(), testParams, time.Now)
	log := &auditBuffer{}
	api.Log = slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	api.MaxBodyBytes = body.api
	up := newBodyRecorder(t)
	px, err := proxy.New(proxy.Options{
		Upstream: up.srv.URL, Resolver: api.Resolver, MaxBodyBytes: body.edge,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	srv := handlers.NewServer(handlers.NewFront(api, px, nil).Serve, api.Log, lim)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { srv.Shutdown() })
	h := &hostileServer{
		service: &service{t: t, base: "http://" + ln.Addr().String(), store: api.Store, api: api,
			http: &http.Client{Timeout: 30 * time.Second}},
		addr: ln.Addr().String(), log: log, up: up,
	}
	h.token = h.signupLogin("hostile@example.com")
	return h
}

// alive checks that the server still answers the API and the edge, and
// that nothing panicked so far.
func (h *hostileServer) alive() {
	h.t.Helper()
	expect(h.t, h.do("GET", "/healthz", nil), 200, "")
	expect(h.t, h.do("GET", "/api/v1/user", nil, "Authorization", "Bearer "+h.token), 200, "")
	if r := h.do("GET", "/app/alive", nil); r.status != 200 {
		h.t.Fatalf("proxied request after the attack: %d %s", r.status, r.raw)
	}
	h.up.take()
	if strings.Contains(h.log.String(), "panicked") {
		h.t.Fatalf("a handler panicked:\n%s", h.log.String())
	}
}

// wireReply is what came back on a connection: an HTTP answer, or none
// (status 0) when the server closed the connection without one.
type wireReply struct {
	status int
	header http.Header
	body   []byte
	close  bool // the answer said Connection: close
}

func (r wireReply) code() string { return rawReply{status: r.status, body: r.body}.code() }

// wire writes request on a new connection (concurrently, so that a server
// that answers before it has read everything is still heard) and reads one
// answer.
func wire(t *testing.T, addr string, request []byte) wireReply {
	t.Helper()
	r, err := wireErr(addr, request)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wireErr is wire for goroutines other than the test's.
func wireErr(addr string, request []byte) (wireReply, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return wireReply{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	go c.Write(request) //nolint:errcheck // the server may stop reading early
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
			return wireReply{}, nil
		}
		return wireReply{}, fmt.Errorf("reading the answer to %.60q: %w", request, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return wireReply{resp.StatusCode, resp.Header, body, resp.Close}, nil
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// checkRefusal fails unless r is a closed connection or a 4xx with the
// JSON error envelope, and never anything that looks like a stack trace.
func checkRefusal(t *testing.T, what string, r wireReply) {
	t.Helper()
	if err := refusalError(what, r); err != nil {
		t.Fatal(err)
	}
}

func refusalError(what string, r wireReply) error {
	for _, leak := range []string{"goroutine ", "panic", ".go:", "runtime."} {
		if bytes.Contains(r.body, []byte(leak)) {
			return fmt.Errorf("%s: the answer holds %q: %s", what, leak, r.body)
		}
	}
	switch {
	case r.status == 0:
		return nil
	case r.status < 400 || r.status >= 500 && r.status != 505:
		return fmt.Errorf("%s: %d %s, want a 4xx, a 505 or a closed connection", what, r.status, r.body)
	case r.header.Get("Content-Type") != "application/json" || r.code() == "":
		return fmt.Errorf("%s: %d without the JSON envelope: %q %s", what, r.status, r.header.Get("Content-Type"), r.body)
	}
	return nil
}

// clientHello is the first TLS record a real client sends.
func clientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, &tls.Config{ServerName: "zectre.test", MinVersion: tls.VersionTLS12}).Handshake() //nolint:errcheck // never completes
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	head := make([]byte, 5)
	if _, err := io.ReadFull(b, head); err != nil {
		t.Fatal(err)
	}
	rest := make([]byte, int(head[3])<<8|int(head[4]))
	if _, err := io.ReadFull(b, rest); err != nil {
		t.Fatal(err)
	}
	return append(head, rest...)
}

// TestHostileGarbage: bytes that are not HTTP/1.1 get a 400 (408 when they
// never finish a header block, 505 for a version other than 1.1 or 1.0) or
// a closed connection, never another 5xx, a panic or a stack trace, and the
// server keeps serving. Odd but readable requests (a folded header line)
// may be served; they too never get a 5xx.
func TestHostileGarbage(t *testing.T) {
	h := startHostile(t, handlers.ServerLimits{ReadTimeout: 2 * time.Second}, bodyLimits{})
	rnd := rand.New(rand.NewPCG(1, 2))
	refused := map[string][]byte{
		"TLS ClientHello":          clientHello(t),
		"bare CRLF CRLF":           []byte("\r\n\r\n"),
		"HTTP/0.9":                 []byte("GET /\r\n"),
		"HTTP/0.9 with blank line": []byte("GET /healthz\r\n\r\n"),
		"NUL bytes":                append(bytes.Repeat([]byte{0}, 1000), "\r\n\r\n"...),
		"line without colon":       []byte("GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"),
		"space before colon":       []byte("GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n"),
		"two Content-Lengths":      []byte("POST /app/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
		"negative Content-Length":  []byte("POST /app/x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
		"huge Content-Length":      []byte("POST /app/x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
		"bad chunk size":           []byte("POST /app/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nab\r\n0\r\n\r\n"),
		"unknown transfer coding":  []byte("POST /app/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
		"control byte in value":    []byte("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n"),
		"absolute-form garbage":    []byte("GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n"),
		"empty method":             []byte(" / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"unknown version":          []byte("GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n"),
		"HTTP/2.0 request line":    []byte("GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n"),
		"HTTP/1.2 request line":    []byte("GET /healthz HTTP/1.2\r\nHost: x\r\n\r\n"),
		"HTTP/0.9 request line":    []byte("GET /healthz HTTP/0.9\r\nHost: x\r\n\r\n"),
		"lowercase method":         []byte("get /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
	}
	for i := range 32 {
		b := make([]byte, 1+rnd.IntN(4096))
		for j := range b {
			b[j] = byte(rnd.Uint32())
		}
		if i%2 == 0 {
			b = append(b, "\r\n\r\n"...) // half of them end like a header block
		}
		refused[fmt.Sprintf("random binary %d (%d bytes)", i, len(b))] = b
	}
	tolerated := map[string][]byte{
		"LF only":  []byte("GET /healthz HTTP/1.1\nHost: x\n\n"),
		"obs-fold": []byte("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"),
	}
	var mu sync.Mutex
	tally := map[int]int{}
	var wg sync.WaitGroup
	for _, group := range []map[string][]byte{refused, tolerated} {
		for name, in := range group {
			wg.Go(func() {
				r, err := wireErr(h.addr, in)
				if err != nil {
					t.Error(err)
					return
				}
				if !strings.HasPrefix(name, "random") {
					t.Logf("%s: %d %s", name, r.status, r.code())
				}
				if r.status < 400 && r.status != 0 {
					if _, ok := refused[name]; ok {
						t.Errorf("%s: %d %s, want a 4xx or a closed connection", name, r.status, r.body)
					}
				} else if err := refusalError(name, r); err != nil {
					t.Error(err)
				}
				mu.Lock()
				tally[r.status]++
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if seen := h.up.take(); len(seen) > 0 {
		t.Errorf("garbage reached the upstream: %+v", seen)
	}

	// Content-Length and Transfer-Encoding together (RFC 9112 6.3): the
	// body is read as chunked and the connection closed after the answer,
	// so what follows on the connection is never read as a request.
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(c, "POST /app/x HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /app/smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	all, _ := io.ReadAll(c)
	if n := bytes.Count(all, []byte("HTTP/1.1 ")); n != 1 || !bytes.Contains(all, []byte("Connection: close")) {
		t.Errorf("Content-Length with Transfer-Encoding: %d answers: %s", n, all)
	}
	for _, s := range h.up.waitSeen(t, 1) {
		if s.path != "/app/x" || s.n != 0 {
			t.Errorf("Content-Length with Transfer-Encoding: the upstream saw %+v", s)
		}
	}
	h.alive()
	t.Logf("%d inputs; answers by status (0: closed without an answer): %v", len(refused)+len(tolerated), tally)
}

// header builds a GET of /healthz whose request line and header block,
// blank line included, are exactly size bytes.
func headerOfSize(t *testing.T, size int) []byte {
	t.Helper()
	const start, end = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ", "\r\n\r\n"
	n := size - len(start) - len(end)
	if n < 1 {
		t.Fatalf("size %d too small", size)
	}
	return []byte(start + strings.Repeat("p", n) + end)
}

// TestHostileHeaderLimit: max_header_bytes is exact: a header block of that
// size is served, one byte more is 431, however the bytes are spread.
func TestHostileHeaderLimit(t *testing.T) {
	const limit = 8192
	h := startHostile(t, handlers.ServerLimits{MaxHeaderBytes: limit}, bodyLimits{})
	if r := wire(t, h.addr, headerOfSize(t, limit)); r.status != 200 {
		t.Fatalf("a header block of exactly %d bytes: %d %s", limit, r.status, r.body)
	}
	many := "GET /healthz HTTP/1.1\r\nHost: x\r\n"
	for i := range 100 {
		many += fmt.Sprintf("X-H%03d: %s\r\n", i, strings.Repeat("v", 90))
	}
	for name, in := range map[string][]byte{
		"one byte over":             headerOfSize(t, limit+1),
		"100 headers of 100 bytes":  []byte(many + "\r\n"),
		"one header of 1 MiB":       []byte("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 1<<20) + "\r\n\r\n"),
		"request line over":         []byte("GET /healthz?q=" + strings.Repeat("q", limit) + " HTTP/1.1\r\nHost: x\r\n\r\n"),
		"through the edge":          []byte("GET /app/x HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("c", limit) + "\r\n\r\n"),
		"at forward-auth":           []byte("GET /api/v1/auth/verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + strings.Repeat("t", limit) + "\r\n\r\n"),
		"endless header, no ending": []byte("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: " + strings.Repeat("e", 4*limit)),
	} {
		r := wire(t, h.addr, in)
		checkRefusal(t, name, r)
		if r.status != 431 || r.code() != "HEADERS_TOO_LARGE" {
			t.Errorf("%s: %d %s, want 431 HEADERS_TOO_LARGE", name, r.status, r.body)
		}
	}
	if seen := h.up.take(); len(seen) > 0 {
		t.Errorf("an oversized request reached the upstream: %+v", seen)
	}
	h.alive()
}

// chunked frames body in chunks of at most 8 KiB.
func chunked(body []byte) []byte {
	var b bytes.Buffer
	for len(body) > 0 {
		n := min(len(body), 8<<10)
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, body[:n])
		body = body[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

// signupOfSize is a valid signup body padded with spaces to size bytes.
func signupOfSize(email string, size int) []byte {
	b := fmt.Sprintf(`{"email":%q,"password":%q}`, email, testPassword)
	return []byte(b + strings.Repeat(" ", size-len(b)))
}

// TestHostileBodyLimits: max_body_bytes bounds the API's bodies and
// max_proxy_body_bytes the edge's, exactly, with Content-Length and chunked.
// Over the edge's limit, a declared length never reaches the upstream, and a
// chunked body reaches it cut, never complete.
func TestHostileBodyLimits(t *testing.T) {
	const apiLimit, edgeLimit = 4096, 64 << 10
	h := startHostile(t, handlers.ServerLimits{}, bodyLimits{api: apiLimit, edge: edgeLimit})
	post := func(path, framing string, body []byte) []byte {
		head := "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
		if framing == "chunked" {
			return append([]byte(head+"Transfer-Encoding: chunked\r\n\r\n"), chunked(body)...)
		}
		return append([]byte(fmt.Sprintf("%sContent-Length: %d\r\n\r\n", head, len(body))), body...)
	}
	for i, framing := range []string{"content-length", "chunked"} {
		t.Run("api "+framing, func(t *testing.T) {
			email := fmt.Sprintf("limit%d@example.com", i)
			r := wire(t, h.addr, post("/api/v1/auth/signup", framing, signupOfSize(email, apiLimit+1)))
			checkRefusal(t, "one byte over", r)
			if r.status != 413 || r.code() != "PAYLOAD_TOO_LARGE" || !bytes.Contains(r.body, []byte("4 KiB")) {
				t.Fatalf("one byte over: %d %s", r.status, r.body)
			}
			if r := wire(t, h.addr, post("/api/v1/auth/signup", framing, signupOfSize(email, apiLimit))); r.status != 201 {
				t.Fatalf("exactly at the limit: %d %s", r.status, r.body)
			}
		})
		t.Run("edge "+framing, func(t *testing.T) {
			at := bytes.Repeat([]byte("u"), edgeLimit)
			if r := wire(t, h.addr, post("/app/upload", framing, at)); r.status != 200 {
				t.Fatalf("exactly at the limit: %d %s", r.status, r.body)
			}
			if seen := h.up.waitSeen(t, 1); len(seen) != 1 || seen[0].n != edgeLimit || seen[0].err != nil {
				t.Fatalf("the upstream saw %+v, want one complete body of %d bytes", seen, edgeLimit)
			}
			r := wire(t, h.addr, post("/app/upload", framing, bytes.Repeat([]byte("o"), 1<<20)))
			checkRefusal(t, "1 MiB", r)
			if r.status != 413 || r.code() != "PAYLOAD_TOO_LARGE" {
				t.Fatalf("1 MiB: %d %s", r.status, r.body)
			}
			if framing == "content-length" {
				time.Sleep(100 * time.Millisecond) // nothing may arrive; give it the chance
				if seen := h.up.take(); len(seen) != 0 {
					t.Fatalf("a declared oversized body reached the upstream: %+v", seen)
				}
				return
			}
			seen := h.up.waitSeen(t, 1)
			if len(seen) != 1 || seen[0].err == nil || seen[0].n > edgeLimit {
				t.Fatalf("the upstream saw %+v, want one body cut at %d bytes at most", seen, edgeLimit)
			}
			t.Logf("chunked 1 MiB: the upstream read %d bytes, then %v", seen[0].n, seen[0].err)
		})
	}
	t.Run("edge endless chunked", func(t *testing.T) {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		sent := make(chan int64, 1)
		go func() {
			var n int64
			w := bufio.NewWriter(c)
			fmt.Fprint(w, "POST /app/endless HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
			chunk := fmt.Sprintf("%x\r\n%s\r\n", 4096, bytes.Repeat([]byte("e"), 4096))
			for n < 1<<30 {
				if _, err := w.WriteString(chunk); err != nil {
					break
				}
				n += 4096
			}
			sent <- n
		}()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 413 || !resp.Close {
			t.Fatalf("endless chunked body: %d (close %v) %s", resp.StatusCode, resp.Close, body)
		}
		c.Close()
		n := <-sent
		seen := h.up.waitSeen(t, 1)
		if len(seen) != 1 || seen[0].err == nil || seen[0].n > edgeLimit {
			t.Fatalf("the upstream saw %+v", seen)
		}
		t.Logf("endless chunked body: the client got to write %d bytes; the upstream read %d", n, seen[0].n)
	})
	t.Run("declared 1 GiB, 8 KiB sent", func(t *testing.T) {
		// The server reads up to 8 KiB of a body before the handler runs;
		// past that, the declared length alone decides.
		for _, path := range []string{"/api/v1/auth/login", "/app/upload"} {
			r := wire(t, h.addr, []byte("POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n"+strings.Repeat("x", 8<<10)))
			if r.status != 413 || !r.close {
				t.Fatalf("%s: %d %s", path, r.status, r.body)
			}
		}
	})
	h.alive()
}

// TestHostileTokens: dot floods and oversized credentials are refused with
// 401 while they fit the header limit and 431 beyond it, without reaching
// a store or an upstream, and the server keeps serving.
func TestHostileTokens(t *testing.T) {
	h := startHostile(t, handlers.ServerLimits{}, bodyLimits{}) // default 16 KiB of headers
	get := func(path, name, value string) wireReply {
		return wire(t, h.addr, []byte("GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"+name+": "+value+"\r\n\r\n"))
	}
	cases := []struct {
		name, header, value string
		status              int
		code                string
	}{
		{"1000 dots", "Authorization", "Bearer " + strings.Repeat(".", 1000), 401, "INVALID_TOKEN"},
		{"8192 dots", "Authorization", "Bearer " + strings.Repeat(".", 8192), 401, "INVALID_TOKEN"},
		{"8193 dots", "Authorization", "Bearer " + strings.Repeat(".", 8193), 401, "INVALID_TOKEN"},
		{"15000 dots", "Authorization", "Bearer " + strings.Repeat(".", 15000), 401, "INVALID_TOKEN"},
		{"4000 a.", "Authorization", "Bearer " + strings.Repeat("a.", 4000), 401, "INVALID_TOKEN"},
		{"three segments of 5000", "Authorization", "Bearer " + strings.Repeat("A", 5000) + "." + strings.Repeat("B", 5000) + "." + strings.Repeat("C", 5000), 401, "INVALID_TOKEN"},
		{"key of dots", "X-API-Key", strings.Repeat(".", 8000), 401, "INVALID_API_KEY"},
		{"zec_ and 15000 characters", "X-API-Key", "zec_" + strings.Repeat("a", 15000), 401, "INVALID_API_KEY"},
		{"1 MiB bearer token", "Authorization", "Bearer " + strings.Repeat("A", 1<<20), 431, "HEADERS_TOO_LARGE"},
		{"1 MiB of dots", "Authorization", "Bearer " + strings.Repeat(".", 1<<20), 431, "HEADERS_TOO_LARGE"},
		{"1 MiB API key", "X-API-Key", "zec_" + strings.Repeat("a", 1<<20), 431, "HEADERS_TOO_LARGE"},
	}
	for _, path := range []string{"/api/v1/user", "/app/x", "/api/v1/auth/verify"} {
		for _, tc := range cases {
			r := get(path, tc.header, tc.value)
			checkRefusal(t, path+" "+tc.name, r)
			if r.status != tc.status || r.code() != tc.code {
				t.Errorf("%s %s: %d %s, want %d %s", path, tc.name, r.status, r.body, tc.status, tc.code)
			}
		}
	}
	// A flood of dot tokens just under the verifiers' limit, on kept-alive
	// connections.
	const flood, workers = 2000, 4
	tok := "Bearer " + strings.Repeat(".", 8000)
	statuses := make(chan int, flood)
	jobs := make(chan struct{}, flood)
	for range flood {
		jobs <- struct{}{}
	}
	close(jobs)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			c := &http.Client{Timeout: 30 * time.Second}
			for range jobs {
				req, _ := http.NewRequest("GET", h.base+"/api/v1/user", nil)
				req.Header.Set("Authorization", tok)
				resp, err := c.Do(req)
				if err != nil {
					statuses <- 0
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses <- resp.StatusCode
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(statuses)
	n401 := 0
	for s := range statuses {
		if s == 401 {
			n401++
		}
	}
	if n401 != flood {
		t.Fatalf("dot flood: %d of %d answered 401", n401, flood)
	}
	if seen := h.up.take(); len(seen) > 0 {
		t.Errorf("a refused credential reached the upstream: %d requests", len(seen))
	}
	h.alive()
	t.Logf("%d requests with 8000-dot tokens: all 401 in %v (%v each, %d clients)", flood, elapsed.Round(time.Millisecond), (elapsed / flood).Round(time.Microsecond), workers)
}

// TestHostileInvalidUTF8: invalid UTF-8 in a JSON field is 400
// INVALID_JSON; in a credential it is that credential's 401; in a header
// name it is 400 BAD_REQUEST; in a path it is percent-encoded like any
// other non-ASCII byte (docs/edge.md), so the path has one spelling.
func TestHostileInvalidUTF8(t *testing.T) {
	h := startHostile(t, handlers.ServerLimits{}, bodyLimits{})
	bad := []string{"\xff", "\xfe\xff", "\xc0\x80", "\xed\xa0\x80", "a\x80b", "\xf4\x90\x80\x80"}
	for _, b := range bad {
		for _, tc := range []struct{ path, body string }{
			{"/api/v1/auth/signup", `{"email":"u` + b + `@example.com","password":"hunter2abc"}`},
			{"/api/v1/auth/signup", `{"email":"u8@example.com","password":"hunter2` + b + `abc"}`},
			{"/api/v1/auth/login", `{"email":"hostile@example.com","password":"` + b + `"}`},
			{"/api/v1/auth/cli/initiate", `{"device_name":"` + b + `"}`},
			{"/api/v1/auth/cli/complete", `{"code":"` + b + `","email":"a@b.c","password":"hunter2abc"}`},
			{"/api/v1/api-keys", `{"name":"` + b + `"}`},
			{"/api/v1/api-keys", `{"name":"k","scopes":["` + b + `"]}`},
			{"/api/v1/auth/signup", `{"` + b + `":1,"email":"u9@example.com","password":"hunter2abc"}`},
		} {
			r := h.do("POST", tc.path, tc.body, "Authorization", "Bearer "+h.token)
			expect(t, r, 400, "INVALID_JSON")
		}
		for _, tc := range []struct {
			header, value string
			status        int
			code          string
		}{
			{"Authorization", "Bearer " + b, 401, "INVALID_TOKEN"},
			{"Authorization", "Bearer eyJ" + b + ".eyJ" + b + "." + b, 401, "INVALID_TOKEN"},
			{"X-API-Key", "zec_" + b + strings.Repeat("a", 42-len(b)), 401, "INVALID_API_KEY"},
		} {
			for _, path := range []string{"/api/v1/user", "/app/x", "/api/v1/auth/verify"} {
				r := wire(t, h.addr, []byte("GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"+tc.header+": "+tc.value+"\r\n\r\n"))
				checkRefusal(t, path+" "+tc.header, r)
				if r.status != tc.status || r.code() != tc.code {
					t.Errorf("%s %s %q: %d %s", path, tc.header, tc.value, r.status, r.body)
				}
			}
		}
		r := wire(t, h.addr, []byte("GET /healthz HTTP/1.1\r\nHost: x\r\nX-"+b+": v\r\n\r\n"))
		checkRefusal(t, "header name", r)
		if r.status != 400 || r.code() != "BAD_REQUEST" {
			t.Errorf("invalid UTF-8 in a header name: %d %s", r.status, r.body)
		}
		// A path of the API: its normal form names nothing there.
		r = wire(t, h.addr, []byte("GET /api/v1/user/"+b+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
		checkRefusal(t, "API path", r)
		if r.status != 404 || r.code() != "NOT_FOUND" {
			t.Errorf("invalid UTF-8 in an API path: %d %s", r.status, r.body)
		}
		// A request id with it is replaced, never echoed.
		r = wire(t, h.addr, []byte("GET /app/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: "+b+"\r\n\r\n"))
		if id := r.header.Get("X-Request-Id"); r.status != 200 || len(id) != 32 {
			t.Errorf("invalid UTF-8 request id: %d, answered id %q", r.status, id)
		}
	}
	// An edge path: forwarded percent-encoded, raw or already encoded alike.
	h.up.take()
	for _, target := range []string{"/app/\xff\xfe", "/app/%ff%FE"} {
		r := wire(t, h.addr, []byte("GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
		if r.status != 200 {
			t.Fatalf("%q: %d %s", target, r.status, r.body)
		}
		if seen := h.up.waitSeen(t, 1); len(seen) != 1 || seen[0].path != "/app/%FF%FE" {
			t.Fatalf("%q reached the upstream as %+v", target, seen)
		}
	}
	h.alive()
}

// TestHostileDeepJSON: bodies nested 100,000 deep are 400 INVALID_JSON:
// encoding/json scans a value before it decodes it and refuses more than
// 10,000 levels, so even many at once cost no stack growth worth the name.
func TestHostileDeepJSON(t *testing.T) {
	h := startHostile(t, handlers.ServerLimits{}, bodyLimits{})
	const depth = 100000
	bodies := map[string]string{
		"100000 [":                 strings.Repeat("[", depth),
		"object, then 100000 [":    `{"email":` + strings.Repeat("[", depth),
		"balanced 100000 [ and ]":  `{"name":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`,
		"100000 nested objects":    `{"name":` + strings.Repeat(`{"a":`, depth) + `1` + strings.Repeat(`}`, depth) + `}`,
		"100000 {":                 strings.Repeat("{", depth),
		"100000 [ in a string arr": `{"name":"k","scopes":` + strings.Repeat("[", depth) + `}`,
	}
	for name, body := range bodies {
		for _, path := range []string{"/api/v1/auth/signup", "/api/v1/api-keys"} {
			r := h.do("POST", path, body, "Authorization", "Bearer "+h.token)
			if r.status != 400 || r.code() != "INVALID_JSON" {
				t.Fatalf("%s to %s: %d %s", name, path, r.status, r.raw)
			}
		}
	}
	// Many at once. The stack in use is read before and after, for the
	// record: the decoder scans a value before it decodes it, keeping the
	// nesting in a slice, not on the stack.
	const parallel = 32
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	var wg sync.WaitGroup
	codes := make(chan string, parallel)
	body := `{"name":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
	for range parallel {
		wg.Go(func() {
			resp, err := h.http.Post(h.base+"/api/v1/auth/cli/initiate", "application/json", strings.NewReader(body))
			if err != nil {
				codes <- err.Error()
				return
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			codes <- fmt.Sprintf("%d %s", resp.StatusCode, rawReply{body: raw}.code())
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	close(codes)
	for c := range codes {
		if c != "400 INVALID_JSON" {
			t.Fatalf("parallel deep body: %s", c)
		}
	}
	h.alive()
	t.Logf("%d bodies of %d bytes nested %d deep at once: all 400 INVALID_JSON in %v; stack in use %d KiB before, %d KiB after",
		parallel, len(body), depth, elapsed.Round(time.Millisecond), before.StackInuse>>10, after.StackInuse>>10)
}
