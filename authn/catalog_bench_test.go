package authn

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/store"
)

// The benchmarks use an in-memory Directory, so that they measure the
// authentication path and not a database.

// BenchmarkRS256Verify is a catalog token without the token cache: header
// routing, RS256 signature and claims every time, and the subject lookup.
func BenchmarkRS256Verify(b *testing.B) {
	keyA := rsaKey("a", "rsa-a")
	cat := newCatalog(b, newJWKSServer(b, keyA).URL, newMemDirectory(), nil)
	benchResolve(b, cat, mint(b, keyA, catClaims("bench")), MethodCatalogJWT)
}

// BenchmarkCachedTokenResolve is a catalog token found in the token cache:
// a SHA-256 of the token, a cache lookup and the user lookup.
func BenchmarkCachedTokenResolve(b *testing.B) {
	keyA := rsaKey("a", "rsa-a")
	cat := newCatalog(b, newJWKSServer(b, keyA).URL, newMemDirectory(), func(o *CatalogOptions) { o.Cache = NewTokenCache(0) })
	benchResolve(b, cat, mint(b, keyA, catClaims("bench")), MethodCatalogJWT)
}

// BenchmarkHS256Resolve and BenchmarkCachedHS256Resolve are the service's
// own tokens without and with the token cache.
func BenchmarkHS256Resolve(b *testing.B) { benchOwnToken(b, nil) }

func BenchmarkCachedHS256Resolve(b *testing.B) { benchOwnToken(b, NewTokenCache(0)) }

func benchOwnToken(b *testing.B, cache *TokenCache) {
	dir := newMemDirectory()
	u := store.User{ID: uuid.NewString(), Email: "bench@example.com", CreatedAt: time.Now()}
	dir.add(u)
	tk := newTestTokens(b)
	benchResolve(b, TokenAuthenticator{Tokens: tk, Users: dir, Cache: cache}, issueOwn(b, tk, u.ID), MethodJWT)
}

func benchResolve(b *testing.B, a Authenticator, tok string, want Method) {
	r := NewResolver(a)
	c := bearer(tok)
	ctx := context.Background()
	if u, err := r.Resolve(ctx, c); err != nil || u.Method != want { // links the user, fills the cache
		b.Fatalf("resolve: %+v, %v", u, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if u, err := r.Resolve(ctx, c); err != nil || u.Method != want {
			b.Fatalf("resolve: %+v, %v", u, err)
		}
	}
}
