package handlers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/store"
)

// TestRevokeSessions: the endpoint's answers, and what it revokes.
func TestRevokeSessions(t *testing.T) {
	stores(t, func(t *testing.T, url string) {
		s := startService(t, url, testPolicy())
		token := s.signupLogin("rosa@example.com")
		auth := []string{"Authorization", "Bearer " + token}
		full, _ := s.createKey(token, map[string]any{"name": "all", "scopes": []string{"*"}})
		narrow, _ := s.createKey(token, map[string]any{"name": "ci", "scopes": []string{"apps:read"}})

		expect(t, s.do("POST", "/api/v1/auth/sessions/revoke", nil), 401, "UNAUTHORIZED")
		expect(t, s.do("POST", "/api/v1/auth/sessions/revoke", nil, "X-API-Key", narrow), 403, "INSUFFICIENT_SCOPE")
		expect(t, s.do("GET", "/api/v1/user", nil, auth...), 200, "")

		r := s.do("POST", "/api/v1/auth/sessions/revoke", nil, auth...)
		expect(t, r, 204, "")
		if len(r.raw) != 0 {
			t.Errorf("204 with a body: %q", r.raw)
		}
		expect(t, s.do("GET", "/api/v1/user", nil, auth...), 401, "INVALID_TOKEN")
		expect(t, s.do("POST", "/api/v1/auth/sessions/revoke", nil, auth...), 401, "INVALID_TOKEN")
		for _, key := range []string{full, narrow} {
			expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", key), 200, "")
		}
		// A key holding * may log its account out everywhere too; a new
		// login works at once.
		expect(t, s.do("POST", "/api/v1/auth/sessions/revoke", nil, "X-API-Key", full), 204, "")
		r = s.do("POST", "/api/v1/auth/login", map[string]any{"email": "rosa@example.com", "password": testPassword})
		expect(t, r, 200, "")
		fresh := r.str("token")
		expect(t, s.do("GET", "/api/v1/user", nil, "Authorization", "Bearer "+fresh), 200, "")
	})
}

// TestChangePassword: wrong, weak and missing passwords, then a change that
// answers with a fresh token and revokes the older ones.
func TestChangePassword(t *testing.T) {
	stores(t, func(t *testing.T, url string) {
		s := startService(t, url, testPolicy())
		token := s.signupLogin("paula@example.com")
		auth := []string{"Authorization", "Bearer " + token}
		key, _ := s.createKey(token, map[string]any{"name": "all", "scopes": []string{"*"}})

		expect(t, s.do("POST", "/api/v1/auth/password", map[string]any{"current_password": testPassword}, auth...), 400, "VALIDATION_ERROR")
		expect(t, s.do("POST", "/api/v1/auth/password", map[string]any{"current_password": "wrong-password", "new_password": "a-new-password"}, auth...), 401, "INVALID_CREDENTIALS")
		expect(t, s.do("POST", "/api/v1/auth/password", map[string]any{"current_password": testPassword, "new_password": "short"}, auth...), 400, "WEAK_PASSWORD")
		expect(t, s.do("POST", "/api/v1/auth/password", map[string]any{"current_password": testPassword, "new_password": "a-new-password"}), 401, "UNAUTHORIZED")
		expect(t, s.do("GET", "/api/v1/user", nil, auth...), 200, "")

		r := s.do("POST", "/api/v1/auth/password", map[string]any{"current_password": testPassword, "new_password": "a-new-password"}, auth...)
		expect(t, r, 200, "")
		fresh := r.str("token")
		if fresh == "" || r.str("expires_at") == "" {
			t.Fatalf("answer not like a login: %s", r.raw)
		}
		expect(t, s.do("GET", "/api/v1/user", nil, auth...), 401, "INVALID_TOKEN")
		expect(t, s.do("GET", "/api/v1/user", nil, "Authorization", "Bearer "+fresh), 200, "")
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", key), 200, "")
		expect(t, s.do("POST", "/api/v1/auth/login", map[string]any{"email": "paula@example.com", "password": testPassword}), 401, "INVALID_CREDENTIALS")
		expect(t, s.do("POST", "/api/v1/auth/login", map[string]any{"email": "paula@example.com", "password": "a-new-password"}), 200, "")
	})
}

// A user of the catalog has no local password: the change is refused with
// a clear 400 and nothing changes.
func TestChangePasswordCatalogUser(t *testing.T) {
	stores(t, func(t *testing.T, url string) {
		s := startService(t, url, testPolicy())
		u, err := s.store.LinkSubject(context.Background(), "https://catalog.test", "sub-1",
			store.User{Email: "cat@example.com", CreatedAt: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		token, _, err := s.api.Tokens.Issue(u.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r := s.do("POST", "/api/v1/auth/password", map[string]any{"current_password": "anything1", "new_password": "hunter2abcd"},
			"Authorization", "Bearer "+token)
		expect(t, r, 400, "VALIDATION_ERROR")
		if !strings.Contains(string(r.raw), "catalog") {
			t.Fatalf("message %q does not say why", r.raw)
		}
		expect(t, s.do("GET", "/api/v1/user", nil, "Authorization", "Bearer "+token), 200, "")
	})
}
