package handlers_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestLoginAndCurrentUser(t *testing.T) {
	stores(t, func(t *testing.T, url string) {
		s := startService(t, url, testPolicy())
		signup := s.do("POST", "/api/v1/auth/signup", `{"email":"alice@example.com","password":"hunter2abc","name":"Alice"}`)
		expect(t, signup, 201, "")

		r := s.do("POST", "/api/v1/auth/login", `{"email":"ALICE@example.com ","password":"hunter2abc"}`)
		expect(t, r, 200, "")
		token := r.str("token")
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("token %q is not a JWT", token)
		}
		var header struct{ Alg string }
		var claims struct {
			Exp int64
			Iat int64
			Sub string
		}
		decodeSegment(t, parts[0], &header)
		decodeSegment(t, parts[1], &claims)
		if header.Alg != "HS256" {
			t.Fatalf("alg %q", header.Alg)
		}
		exp, err := time.Parse(time.RFC3339, r.str("expires_at"))
		if err != nil || exp.Unix() != claims.Exp {
			t.Fatalf("expires_at %q does not equal exp %d", r.str("expires_at"), claims.Exp)
		}
		if d := time.Duration(claims.Exp-claims.Iat) * time.Second; d != 7*24*time.Hour {
			t.Fatalf("token lives %s, want 7 days", d)
		}
		user, _ := r.body["user"].(map[string]any)
		if user["email"] != "alice@example.com" || user["id"] != claims.Sub {
			t.Fatalf("login user %v, sub %q", user, claims.Sub)
		}

		r = s.do("GET", "/api/v1/user", nil, "Authorization", "Bearer "+token)
		expect(t, r, 200, "")
		if r.str("email") != "alice@example.com" || r.str("name") != "Alice" || r.str("id") != claims.Sub || r.str("created_at") != signup.str("created_at") {
			t.Fatalf("current user: %s", r.raw)
		}
		expect(t, s.do("GET", "/api/v1/user", nil, "Authorization", "bearer "+token), 200, "")

		for _, tc := range []struct{ name, body string }{
			{"wrong password", `{"email":"alice@example.com","password":"wrong-password"}`},
			{"unknown email", `{"email":"nobody@example.com","password":"hunter2abc"}`},
			{"malformed email", `{"email":"nobody","password":"hunter2abc"}`},
			{"empty password", `{"email":"alice@example.com","password":""}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				expect(t, s.do("POST", "/api/v1/auth/login", tc.body), 401, "INVALID_CREDENTIALS")
			})
		}
		expect(t, s.do("POST", "/api/v1/auth/login", `{"email":"alice@example.com"}`), 400, "VALIDATION_ERROR")
		expect(t, s.do("POST", "/api/v1/auth/login", `{"email":"alice@example.com","password":"`+strings.Repeat("p", 2000)+`"}`), 400, "VALIDATION_ERROR")
		expect(t, s.do("POST", "/api/v1/auth/login", `{"email":"alice@example.com","password":12345678}`), 400, "INVALID_JSON")

		// Credentials on GET /api/v1/user.
		for _, tc := range []struct {
			name    string
			headers []string
			status  int
			code    string
		}{
			{"none", nil, 401, "UNAUTHORIZED"},
			{"basic scheme", []string{"Authorization", "Basic YTpi"}, 401, "INVALID_TOKEN"},
			{"garbage token", []string{"Authorization", "Bearer not.a.jwt"}, 401, "INVALID_TOKEN"},
			{"tampered token", []string{"Authorization", "Bearer " + token[:len(token)-2] + "xx"}, 401, "INVALID_TOKEN"},
			{"alg none", []string{"Authorization", "Bearer " + noneToken(claims.Sub)}, 401, "INVALID_TOKEN"},
			{"dot flood", []string{"Authorization", "Bearer " + strings.Repeat(".", 9000)}, 401, "INVALID_TOKEN"},
			{"malformed key", []string{"X-API-Key", "zec_nope"}, 401, "INVALID_API_KEY"},
			{"forged key", []string{"X-API-Key", "zec_" + strings.Repeat("A", 42)}, 401, "INVALID_API_KEY"},
		} {
			t.Run("user/"+tc.name, func(t *testing.T) {
				expect(t, s.do("GET", "/api/v1/user", nil, tc.headers...), tc.status, tc.code)
			})
		}
	})
}

func TestDisabledAccount(t *testing.T) {
	stores(t, func(t *testing.T, url string) {
		s := startService(t, url, testPolicy())
		token := s.signupLogin("carol@example.com")
		key, _ := s.createKey(token, map[string]any{"name": "ci"})
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", key), 200, "")

		if _, err := s.store.SetDisabled(t.Context(), "carol@example.com", true); err != nil {
			t.Fatal(err)
		}
		expect(t, s.do("GET", "/api/v1/user", nil, "Authorization", "Bearer "+token), 401, "INVALID_TOKEN")
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", key), 401, "INVALID_API_KEY")
		expect(t, s.do("POST", "/api/v1/auth/login", `{"email":"carol@example.com","password":"hunter2abc"}`), 403, "ACCOUNT_DISABLED")
		// The account's state is not revealed without its password.
		expect(t, s.do("POST", "/api/v1/auth/login", `{"email":"carol@example.com","password":"wrong-password"}`), 401, "INVALID_CREDENTIALS")

		if _, err := s.store.SetDisabled(t.Context(), "carol@example.com", false); err != nil {
			t.Fatal(err)
		}
		expect(t, s.do("GET", "/api/v1/user", nil, "Authorization", "Bearer "+token), 200, "")
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", key), 200, "")
	})
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment %q: %v", seg, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("segment %s: %v", b, err)
	}
}

// noneToken is an unsigned token for sub that expires in an hour.
func noneToken(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{"sub": sub, "iss": "zectre-auth", "exp": time.Now().Add(time.Hour).Unix()})
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(claims) + "."
}

// TestRehashOnLogin: a hash made under weaker parameters is replaced at the
// next successful login, and the password keeps working.
func TestRehashOnLogin(t *testing.T) {
	stores(t, func(t *testing.T, url string) {
		weak := startService(t, url, testPolicy())
		expect(t, weak.do("POST", "/api/v1/auth/signup", `{"email":"ivy@example.com","password":"hunter2abc"}`), 201, "")
		before, err := weak.store.UserByEmail(t.Context(), "ivy@example.com")
		if err != nil {
			t.Fatal(err)
		}
		stronger := testParams
		stronger.Memory *= 2
		s := startServiceWith(t, url, testPolicy(), stronger)
		expect(t, s.do("POST", "/api/v1/auth/login", `{"email":"ivy@example.com","password":"hunter2abc"}`), 200, "")
		after, err := s.store.UserByEmail(t.Context(), "ivy@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if after.PasswordHash == before.PasswordHash || !strings.Contains(after.PasswordHash, "m=128,") {
			t.Fatalf("hash not upgraded: %q -> %q", before.PasswordHash, after.PasswordHash)
		}
		expect(t, s.do("POST", "/api/v1/auth/login", `{"email":"ivy@example.com","password":"hunter2abc"}`), 200, "")
	})
}

// TestStoreDown: with the database gone, routes that need it answer 503
// SERVICE_UNAVAILABLE (never 500), and /readyz says not ready.
func TestStoreDown(t *testing.T) {
	stores(t, func(t *testing.T, url string) {
		s := startService(t, url, testPolicy())
		token := s.signupLogin("joe@example.com")
		s.closeDatabase()
		expect(t, s.do("POST", "/api/v1/auth/login", `{"email":"joe@example.com","password":"hunter2abc"}`), 503, "SERVICE_UNAVAILABLE")
		expect(t, s.do("POST", "/api/v1/auth/signup", `{"email":"kim@example.com","password":"hunter2abc"}`), 503, "SERVICE_UNAVAILABLE")
		expect(t, s.do("GET", "/api/v1/user", nil, "Authorization", "Bearer "+token), 503, "SERVICE_UNAVAILABLE")
		expect(t, s.do("POST", "/api/v1/auth/cli/initiate", nil), 503, "SERVICE_UNAVAILABLE")
		expect(t, s.do("GET", "/readyz", nil), 503, "SERVICE_UNAVAILABLE")
		expect(t, s.do("GET", "/healthz", nil), 200, "")
	})
}
