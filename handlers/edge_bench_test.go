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

// BenchmarkVerifyCachedKey is one forward-auth decision for a cached API key
// through the whole front handler (path normalisation, dispatch, rules,
// resolution, audit line, identity headers), on a prepared RequestCtx.
func BenchmarkVerifyCachedKey(b *testing.B) {
	nk, err := authn.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	dir := &memDirectory{
		users: map[string]store.User{"u-1": {ID: "u-1", Email: "bench@example.com", CreatedAt: time.Now()}},
		keys: map[[32]byte]store.APIKey{nk.Digest: {ID: "k-1", UserID: "u-1", Prefix: nk.Prefix, Digest: nk.Digest,
			Scopes: []string{"apps:read", "apps:write"}}},
	}
	audit := authn.NewAudit(io.Discard)
	defer audit.Close()
	api := &handlers.API{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Audit: audit}
	px, err := proxy.New(proxy.Options{
		Routes:   []config.Route{{Path: "/apps/**", Auth: config.AuthRequired, Scopes: []string{"apps:read"}}},
		Resolver: authn.NewResolver(authn.KeyAuthenticator{Keys: dir}),
		Audit:    audit,
		Trusted:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	if err != nil {
		b.Fatal(err)
	}
	h := handlers.NewHandler(api, px)

	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.SetRequestURI("/api/v1/auth/verify")
	req.Header.SetHost("auth.internal")
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Uri", "/apps/1234/deployments?page=2")
	req.Header.Set("X-API-Key", nk.Raw)
	req.Header.Set("X-Request-Id", "bench-request-1")
	var rc fasthttp.RequestCtx
	rc.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)

	b.ReportAllocs()
	for b.Loop() {
		rc.Response.Reset()
		h(&rc)
		if rc.Response.StatusCode() != 200 || len(rc.Response.Header.Peek(proxy.HeaderUserID)) == 0 {
			b.Fatalf("verify: %d %s", rc.Response.StatusCode(), rc.Response.Body())
		}
	}
}
