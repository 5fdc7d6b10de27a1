package handlers_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/zectre/zectre-auth/audit"
	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/handlers"
	zsvc "github.com/zectre/zectre-auth/service"
)

// upstreamRecorder is a real upstream (net/http, so a strict HTTP/1.1
// parser) that records every request it receives.
type upstreamRecorder struct {
	srv     *httptest.Server
	mu      sync.Mutex
	seen    []seenReq
	conns   int // connections accepted
	handler http.HandlerFunc
}

type seenReq struct {
	Method     string
	RequestURI string // the raw request target as it arrived
	Host       string
	Header     http.Header
	BodyLen    int64
}

func newUpstream(t testing.TB) *upstreamRecorder {
	u := &upstreamRecorder{}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		h := u.handler
		u.mu.Unlock()
		n, _ := io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, seenReq{r.Method, r.RequestURI, r.Host, r.Header.Clone(), n})
		u.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("X-Upstream", "yes")
		io.WriteString(w, "upstream ok")
	}))
	u.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.mu.Lock()
			u.conns++
			u.mu.Unlock()
		}
	}
	u.srv.Start()
	t.Cleanup(u.srv.Close)
	return u
}

// take returns and forgets what reached the upstream.
func (u *upstreamRecorder) take() []seenReq {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.seen
	u.seen = nil
	return s
}

func (u *upstreamRecorder) setHandler(h http.HandlerFunc) {
	u.mu.Lock()
	u.handler = h
	u.mu.Unlock()
}

func (u *upstreamRecorder) connCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.conns
}

// edgeOptions configure startEdge.
type edgeOptions struct {
	routes      []config.Route
	defaultAuth config.AuthMode
	upstream    string // default upstream URL; "" for none
	trusted     []string
	timeout     time.Duration
	noEdge      bool
	extAuthz    bool      // serve ext_authz on a loopback listener (edge.ext)
	log         io.Writer // the service's log; nil discards it
	edit        func(*config.Config)
}

// edge is zectre-auth with the edge in front, on a real listener, over a
// real SQLite store, with an account, a token and keys.
type edge struct {
	*service
	addr   string
	audit  *auditBuffer
	userID string
	token  string
	key    string // scopes ["*"]
	keyID  string
	roKey  string // scopes ["apps:read"]
	svc    *zsvc.Service
	ext    *grpc.ClientConn // to the ext_authz listener, with extAuthz
}

// newAuditWriter is the audit writer of a test service, as the service
// makes it: lines name the code the client was answered.
func newAuditWriter(w io.Writer) *audit.Writer { return audit.New(w, handlers.ErrorCode) }

type auditBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (a *auditBuffer) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.b.Write(p)
}

func (a *auditBuffer) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.b.String()
}

func startEdge(t testing.TB, o edgeOptions) *edge {
	t.Helper()
	audit := &auditBuffer{}
	policy := testPolicy()
	so := zsvc.Options{Passwords: testParams, Limits: &policy, AuditOut: audit}
	if o.log != nil {
		so.Log = slog.New(slog.NewJSONHandler(o.log, nil))
	}
	svc := newTestService(t, storeURLForOneStore(t), so, func(c *config.Config) {
		c.Routes, c.Upstream, c.DefaultAuth, c.TrustedProxies = o.routes, o.upstream, o.defaultAuth, o.trusted
		if c.DefaultAuth == "" {
			c.DefaultAuth = config.DefaultDefaultAuth
		}
		if o.timeout > 0 {
			c.UpstreamTimeout = config.Duration(o.timeout)
		}
		if o.extAuthz {
			c.ExtAuthzListen = "127.0.0.1:0"
		}
		if o.edit != nil {
			o.edit(c)
		}
	})
	if o.noEdge {
		svc.Front.Edge().Close()
		svc.Front.SetEdge(nil)
	}
	api, srv := svc.API, svc.Server
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { srv.Shutdown() })
	e := &edge{
		service: &service{t: t, base: "http://" + ln.Addr().String(), store: api.Store, api: api,
			http: &http.Client{Timeout: 30 * time.Second}},
		addr: ln.Addr().String(), audit: audit, svc: svc,
	}
	if o.extAuthz {
		e.ext = serveExtAuthz(t, svc)
	}
	e.token = e.signupLogin("edge@example.com")
	e.key, e.keyID = e.createKey(e.token, map[string]any{"name": "full"})
	e.roKey, _ = e.createKey(e.token, map[string]any{"name": "read only", "scopes": []string{"apps:read"}})
	r := e.do("GET", "/api/v1/user", nil, "Authorization", "Bearer "+e.token)
	expect(t, r, 200, "")
	e.userID = r.str("id")
	return e
}

// rawReply is a response read off the wire.
type rawReply struct {
	status int
	header http.Header
	body   []byte
}

func (r rawReply) code() string {
	var b struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(r.body, &b)
	return b.Error.Code
}

// raw sends a request with the target written exactly as given (no client
// library cleans it) and headers as name, value pairs.
func (e *edge) raw(method, target string, headers ...string) rawReply {
	e.t.Helper()
	return rawRequestTo(e.t, e.addr, method, target, nil, headers...)
}

func rawRequestTo(t testing.TB, addr, method, target string, body []byte, headers ...string) rawReply {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nConnection: close\r\n", method, target)
	hasHost := false
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "Host") {
			hasHost = true
		}
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	if !hasHost {
		b.WriteString("Host: app.example\r\n")
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return rawReply{resp.StatusCode, resp.Header, rb}
}

// identityHeaders are the X-Zectre-* headers a request arrived with, by any
// spelling, keyed by the folded name.
func identityHeaders(h http.Header) map[string][]string {
	out := map[string][]string{}
	for name, vals := range h {
		folded := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
		if strings.HasPrefix(folded, "x-zectre-") {
			out[folded] = append(out[folded], vals...)
		}
	}
	return out
}
