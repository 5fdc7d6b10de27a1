package store_test

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

// BenchmarkAPIKeyByDigest measures the lookup every API-key request makes on
// a cache miss.
func BenchmarkAPIKeyByDigest(b *testing.B) {
	for _, c := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", storetest.SQLiteURL}, {"postgres", storetest.PostgresURL}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			s := openURL(b, c.url(b))
			u := store.User{ID: uuid.NewString(), Email: "bench@example.com", CreatedAt: now}
			if err := s.CreateUser(ctx, u); err != nil {
				b.Fatal(err)
			}
			k := newKey(u.ID, "bench", now)
			k.Digest = sha256.Sum256([]byte("bench"))
			if err := s.CreateAPIKey(ctx, k); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.APIKeyByDigest(ctx, k.Digest); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
