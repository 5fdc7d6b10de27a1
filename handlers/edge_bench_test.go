package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/handlers"
	"github.com/zectre/zectre-auth/proxy"
	"github.com/zectre/zectre-auth/store"
)

// memDirectory is an in-memory authn.Directory: what a warm cache answers,
// without the cache's own cost.
type memDirectory struct {
	users map[string]store.User
	keys  map[[32]byte]store.APIKey
}

func (d *memDirectory) UserByID(_ context.Context, id string) (store.User, error) {
	u, ok := d.users[id]
	if !ok {
		return store.User{}, store.ErrNotFound
	}
	return u, nil
}

func (d *memDirectory) APIKeyByDigest(_ context.Context, digest [32]byte) (store.APIKey, error) {
	k, ok := d.keys[digest]
	if !ok {
		return store.APIKey{}, store.ErrNotFound
	}
	return k, nil
}

// benchEdge is the front handler over a warm in-memory directory with one
// key, the edge's rules, and upstream as the default upstream ("" for
// none); it returns the handler and the raw key.
func benchEdge(b *testing.B, upstream string) (fasthttp.RequestHandler, string) {
	nk, err := authn.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	dir := &memDirectory{
		users: map[string]store.User{"u-1": {ID: "u-1", Email: "bench@example.com", CreatedAt: time.Now()}},
		keys: map[[32]byte]store.APIKey{nk.Digest: {ID: "k-1", UserID: "u-1", Prefix: nk.Prefix, Digest: nk.Digest,
			Scopes: []string{"apps:read", "apps:write"}}},
	}
	audit := newAuditWriter(io.Discard)
	b.Cleanup(func() { audit.Close() })
	api := &handlers.API{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Audit: audit}
	px, err := proxy.New(proxy.Options{
		Routes:   []config.Route{{Path: "/apps/**", Auth: config.AuthRequired, Scopes: []string{"apps:read"}}},
		Upstream: upstream,
		Resolver: authn.NewResolver(authn.KeyAuthenticator{Keys: dir}),
		Audit:    audit,
		Trusted:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Timeout:  10 * time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(px.Close)
	return handlers.NewFront(api, px, nil).Serve, nk.Raw
}

// benchCtx is a prepared request from a loopback client, on a connection
// whose deadlines can be set (the edge extends them while it streams).
func benchCtx(b *testing.B, target, key string, headers ...string) *fasthttp.RequestCtx {
	c, other := net.Pipe()
	b.Cleanup(func() { c.Close(); other.Close() })
	rc := new(fasthttp.RequestCtx)
	rc.Init2(loopbackConn{c}, nil, false)
	req := &rc.Request
	req.Header.SetMethod("GET")
	req.SetRequestURI(target)
	req.Header.SetHost("auth.internal")
	req.Header.Set("X-API-Key", key)
	req.Header.Set("X-Request-Id", "bench-request-1")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return rc
}

// loopbackConn is a connection that says it comes from a loopback client.
type loopbackConn struct{ net.Conn }

var loopbackClient = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

func (loopbackConn) RemoteAddr() net.Addr { return loopbackClient }

// BenchmarkVerifyCachedKey is one forward-auth decision for a cached API key
// through the whole front handler (path normalisation, dispatch, rules,
// resolution, audit line, identity headers), on a prepared RequestCtx.
func BenchmarkVerifyCachedKey(b *testing.B) {
	h, key := benchEdge(b, "")
	rc := benchCtx(b, "/api/v1/auth/verify", key, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/apps/1234/deployments?page=2")
	b.ReportAllocs()
	for b.Loop() {
		rc.Response.Reset()
		h(rc)
		if rc.Response.StatusCode() != 200 || len(rc.Response.Header.Peek(proxy.HeaderUserID)) == 0 {
			b.Fatalf("verify: %d %s", rc.Response.StatusCode(), rc.Response.Body())
		}
	}
}

// BenchmarkProxyCachedKey is one request in proxy mode with a cached API
// key: the decision as above, the upstream request built from the client's,
// the exchange with a real upstream on loopback (a fasthttp server in this
// process, whose own cost is included), and the response streamed back.
func BenchmarkProxyCachedKey(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) { rc.SetBodyString("upstream ok\n") }}
	go up.Serve(ln)
	b.Cleanup(func() { up.Shutdown() })
	h, key := benchEdge(b, "http://"+ln.Addr().String())
	rc := benchCtx(b, "/apps/1234/deployments?page=2", key)
	b.ReportAllocs()
	for b.Loop() {
		rc.Response.Reset() // closes the last body: the connection goes back to the pool
		h(rc)
		if rc.Response.StatusCode() != 200 {
			b.Fatalf("proxy: %d %s", rc.Response.StatusCode(), rc.Response.Body())
		}
		if err := rc.Response.BodyWriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
