package cache_test

import (
	"context"
	"testing"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/store"
)

// benchStore is a cache over SQLite holding one user with one generated key,
// both warm.
func benchStore(b *testing.B) (*cache.Store, store.User, authn.NewKey) {
	st := sqliteStore(b)
	c := openCache(b, st, cache.Options{})
	runCache(b, c) // the change watch lets in-process entries live long
	u, _ := seed(b, st)
	nk, err := authn.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	k := newKey(u.ID)
	k.Digest, k.Prefix = nk.Digest, nk.Prefix
	ctx := context.Background()
	if err := c.CreateAPIKey(ctx, k); err != nil {
		b.Fatal(err)
	}
	for range 2 {
		if _, err := c.APIKeyByDigest(ctx, k.Digest); err != nil {
			b.Fatal(err)
		}
		if _, err := c.UserByID(ctx, u.ID); err != nil {
			b.Fatal(err)
		}
	}
	return c, u, nk
}

// The hot path of an API key request: key by digest, then its user.
func BenchmarkCachedKeyLookup(b *testing.B) {
	c, _, nk := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		k, err := c.APIKeyByDigest(ctx, nk.Digest)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.UserByID(ctx, k.UserID); err != nil {
			b.Fatal(err)
		}
	}
}

// The same through the authenticator: parse, hash, look up, check.
func BenchmarkKeyAuthenticatorCached(b *testing.B) {
	c, _, nk := benchStore(b)
	a := authn.KeyAuthenticator{Keys: c}
	ctx := context.Background()
	cred := authn.Credentials{APIKey: nk.Raw}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, cred); err != nil {
			b.Fatal(err)
		}
	}
}
