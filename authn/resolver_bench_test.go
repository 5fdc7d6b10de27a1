package authn_test

import (
	"context"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/store/storetest"
)

// BenchmarkResolveKeyUncached is the cost of an API key request when every
// lookup goes to the database: parse, digest, key row, user row.
func BenchmarkResolveKeyUncached(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchResolveKey(b, storetest.SQLiteURL(b)) })
	b.Run("postgres", func(b *testing.B) { benchResolveKey(b, storetest.PostgresURL(b)) })
}

func benchResolveKey(b *testing.B, url string) {
	st := openStore(b, url)
	u := newUser(b, st, "bench@example.com")
	raw, id := newKey(b, st, u.ID, []string{authn.ScopeAll}, nil)
	r := authn.NewResolver(authn.KeyAuthenticator{Keys: st, Now: time.Now})
	c := authn.Credentials{APIKey: raw}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		got, err := r.Resolve(ctx, c)
		if err != nil || got.APIKeyID != id {
			b.Fatalf("resolve: %+v, %v", got, err)
		}
	}
}

// BenchmarkResolveToken is the cost of a bearer token request: HS256
// verification and the user row, on SQLite.
func BenchmarkResolveToken(b *testing.B) {
	st := openStore(b, storetest.SQLiteURL(b))
	u := newUser(b, st, "bench@example.com")
	tk := newTokens(b, resolverSecret)
	r := authn.NewResolver(authn.TokenAuthenticator{Tokens: tk, Users: st})
	c := authn.Credentials{Authorization: "Bearer " + issue(b, tk, u.ID)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		got, err := r.Resolve(ctx, c)
		if err != nil || got.ID != u.ID {
			b.Fatalf("resolve: %+v, %v", got, err)
		}
	}
}
