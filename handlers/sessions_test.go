package handlers_test

import "testing"

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
