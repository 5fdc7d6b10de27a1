package handlers_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/audit"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/extauthz"
	"github.com/zectre/zectre-auth/handlers"
	"github.com/zectre/zectre-auth/identity"
	"github.com/zectre/zectre-auth/proxy"
	"github.com/zectre/zectre-auth/store"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
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
	return benchEdgeAsserting(b, upstream, nil)
}

// benchEdgeAsserting is benchEdge with identity assertions minted by a
// (nil: assertions off).
func benchEdgeAsserting(b *testing.B, upstream string, a proxy.Asserter) (fasthttp.RequestHandler, string) {
	px, key := benchProxyAsserting(b, upstream, a)
	api := &handlers.API{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Audit: px.audit}
	return handlers.NewFront(api, px.Handler, nil).Serve, key
}

// benchedEdge is the edge of the benchmarks with its audit writer.
type benchedEdge struct {
	*proxy.Handler
	audit *audit.Writer
}

// benchProxy is the edge of benchEdge and the raw key.
func benchProxy(b *testing.B, upstream string) (benchedEdge, string) {
	return benchProxyAsserting(b, upstream, nil)
}

func benchProxyAsserting(b *testing.B, upstream string, a proxy.Asserter) (benchedEdge, string) {
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
	px, err := proxy.New(proxy.Options{
		Routes:   []config.Route{{Path: "/apps/**", Auth: config.AuthRequired, Scopes: []string{"apps:read"}}},
		Upstream: upstream,
		Resolver: authn.NewResolver(authn.KeyAuthenticator{Keys: dir}),
		Audit:    audit,
		Trusted:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Timeout:  10 * time.Second,
		Identity: a,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(px.Close)
	return benchedEdge{px, audit}, nk.Raw
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

// BenchmarkVerifyCachedKeyIdentity is BenchmarkVerifyCachedKey with
// identity assertions on: the caller's assertion is cached, so the decision
// costs one cache lookup more (at most 1 µs and no allocation).
func BenchmarkVerifyCachedKeyIdentity(b *testing.B) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := identity.NewSigner(identity.Options{Key: priv, Issuer: "http://auth.test"})
	if err != nil {
		b.Fatal(err)
	}
	h, key := benchEdgeAsserting(b, "", signer)
	rc := benchCtx(b, "/api/v1/auth/verify", key, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/apps/1234/deployments?page=2")
	b.ReportAllocs()
	for b.Loop() {
		rc.Response.Reset()
		h(rc)
		if rc.Response.StatusCode() != 200 || len(rc.Response.Header.Peek(proxy.HeaderIdentity)) == 0 {
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

// benchCheck is the request of BenchmarkVerifyCachedKey as Envoy's
// ext_authz names it.
func benchCheck(key string) *proxy.CheckRequest {
	return &proxy.CheckRequest{Method: "GET", Path: "/apps/1234/deployments?page=2", Peer: netip.MustParseAddr("127.0.0.1"),
		Headers: []proxy.HeaderLine{{Name: ":authority", Value: "auth.internal"}, {Name: "x-api-key", Value: key},
			{Name: "x-request-id", Value: "bench-request-1"}}}
}

// BenchmarkCheckCachedKey is BenchmarkVerifyCachedKey's decision as the
// ext_authz listener makes it, in process: proxy.Handler.Check (the same
// decision code: rules, resolution, audit line) and the identity headers
// collected for the CheckResponse, without gRPC.
func BenchmarkCheckCachedKey(b *testing.B) {
	px, key := benchProxy(b, "")
	req := benchCheck(key)
	var res proxy.CheckResult
	b.ReportAllocs()
	for b.Loop() {
		if err := px.Check(req, &res); err != nil || len(res.Set) == 0 {
			b.Fatalf("check: %v %v", err, res)
		}
	}
}

// BenchmarkCheckGRPC is one whole Check over gRPC on loopback: a real
// client with the go-control-plane types, the ext_authz server, the
// decision and the CheckResponse; client and server run in this process.
func BenchmarkCheckGRPC(b *testing.B) {
	px, key := benchProxy(b, "")
	srv := extauthz.New(extauthz.Options{Edge: func() *proxy.Handler { return px.Handler }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // ends with Stop
	b.Cleanup(srv.Stop)
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	client := authv3.NewAuthorizationClient(cc)
	req := checkReq("GET", "/apps/1234/deployments?page=2", false, "x-api-key", key, "x-request-id", "bench-request-1")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := client.Check(ctx, req)
		if err != nil || res.GetOkResponse() == nil {
			b.Fatalf("check: %v %v", err, res)
		}
	}
}

// BenchmarkDecisionLoad puts Check over gRPC and /verify over HTTP under
// the same parallel load on loopback, one after the other in one run, and
// reports the process CPU per decision (getrusage, user+system) beside the
// time: the client's share is included in both (fasthttp's client for
// /verify, gRPC's for Check), so the figures compare whole exchanges, not
// the server alone.
func BenchmarkDecisionLoad(b *testing.B) {
	px, key := benchProxy(b, "")
	b.Run("grpc_check", func(b *testing.B) {
		srv := extauthz.New(extauthz.Options{Edge: func() *proxy.Handler { return px.Handler }})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(ln) //nolint:errcheck // ends with Stop
		b.Cleanup(srv.Stop)
		cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cc.Close() })
		client := authv3.NewAuthorizationClient(cc)
		req := checkReq("GET", "/apps/1234/deployments?page=2", false, "x-api-key", key, "x-request-id", "bench-request-1")
		cpuPerOp(b, func() {
			if res, err := client.Check(context.Background(), req); err != nil || res.GetOkResponse() == nil {
				b.Errorf("check: %v %v", err, res)
			}
		})
	})
	b.Run("http_verify", func(b *testing.B) {
		api := &handlers.API{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Audit: px.audit}
		srv := &fasthttp.Server{Handler: handlers.NewFront(api, px.Handler, nil).Serve}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
		b.Cleanup(func() { srv.Shutdown() })
		client := &fasthttp.HostClient{Addr: ln.Addr().String(), MaxConns: 64}
		cpuPerOp(b, func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://auth.internal/api/v1/auth/verify")
			req.Header.Set("X-API-Key", key)
			req.Header.Set("X-Request-Id", "bench-request-1")
			req.Header.Set("X-Forwarded-Method", "GET")
			req.Header.Set("X-Forwarded-Uri", "/apps/1234/deployments?page=2")
			if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Errorf("verify: %v %d", err, resp.StatusCode())
			}
		})
	})
}

// cpuPerOp runs op from parallel goroutines (4 per core, as a loaded
// ingress sends) and reports the process CPU time per op.
func cpuPerOp(b *testing.B, op func()) {
	b.SetParallelism(4)
	before := processCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			op()
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((processCPU(b)-before).Microseconds())/float64(b.N), "cpu-us/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
