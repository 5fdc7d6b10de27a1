package handlers_test

import (
	"testing"

	"github.com/zectre/zectre-auth/authn"
)

// BenchmarkLogin is a whole login over HTTP with the service's real argon2id
// parameters: lookup, hash, token.
func BenchmarkLogin(b *testing.B) {
	s := startServiceWith(b, storeURLForOneStore(b), testPolicy(), authn.DefaultPasswordParams())
	expect(b, s.do("POST", "/api/v1/auth/signup", `{"email":"bench@example.com","password":"hunter2abc"}`), 201, "")
	b.ReportAllocs()
	for b.Loop() {
		if r := s.do("POST", "/api/v1/auth/login", `{"email":"bench@example.com","password":"hunter2abc"}`); r.status != 200 {
			b.Fatalf("login: %d %s", r.status, r.raw)
		}
	}
}

// BenchmarkCurrentUserWithKey is GET /api/v1/user with an API key over HTTP,
// uncached: parse, digest, key lookup, user lookup, JSON.
func BenchmarkCurrentUserWithKey(b *testing.B) {
	s := startService(b, storeURLForOneStore(b), testPolicy())
	token := s.signupLogin("bench@example.com")
	key, _ := s.createKey(token, map[string]any{"name": "bench"})
	b.ReportAllocs()
	for b.Loop() {
		if r := s.do("GET", "/api/v1/user", nil, "X-API-Key", key); r.status != 200 {
			b.Fatalf("user: %d %s", r.status, r.raw)
		}
	}
}
