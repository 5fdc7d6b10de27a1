package handlers_test

import (
	"strings"
	"testing"
	"time"
)

// TestRollAPIKey: a roll answers a new key with the old one's name, scopes
// and expiry rule; both work and are listed during the grace period, the old
// one with its new expires_at; then only the new one works.
func TestRollAPIKey(t *testing.T) {
	stores(t, func(t *testing.T, url string) {
		s := startService(t, url, testPolicy())
		token := s.signupLogin("roll@example.com")
		auth := []string{"Authorization", "Bearer " + token}
		// Made before the clock moves on, like token.
		other := s.signupLogin("roll-other@example.com")
		old, oldID := s.createKey(token, map[string]any{"name": "CI", "scopes": []string{"*", "apps:read"}, "expires_in_days": 30})
		s.clock.Advance(time.Hour)

		r := s.do("POST", "/api/v1/api-keys/"+oldID+"/roll", `{"grace_period_seconds":3600}`, auth...)
		expect(t, r, 201, "")
		rolled, rolledID := r.str("key"), r.str("id")
		if !strings.HasPrefix(rolled, "zec_") || rolled == old || rolledID == oldID || r.str("name") != "CI" {
			t.Fatalf("rolled key: %s", r.raw)
		}
		if sc, _ := r.body["scopes"].([]any); len(sc) != 2 || sc[0] != "*" || sc[1] != "apps:read" {
			t.Fatalf("rolled scopes: %s", r.raw)
		}
		exp, err := time.Parse(time.RFC3339, r.str("expires_at"))
		if err != nil || exp.Sub(s.clock.Now()).Round(time.Minute) != 30*24*time.Hour {
			t.Fatalf("rolled expires_at %q, want 30 days from the roll", r.str("expires_at"))
		}

		r = s.do("GET", "/api/v1/api-keys", nil, auth...)
		expect(t, r, 200, "")
		listed := map[string]string{}
		for _, d := range r.body["data"].([]any) {
			k := d.(map[string]any)
			e, _ := k["expires_at"].(string)
			listed[k["id"].(string)] = e
		}
		oldExp, err := time.Parse(time.RFC3339, listed[oldID])
		if len(listed) != 2 || err != nil || !oldExp.Equal(s.clock.Now().Add(time.Hour).Truncate(time.Second)) {
			t.Fatalf("list during the grace period: %v, want the old key expiring in an hour", listed)
		}
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", old), 200, "")
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", rolled), 200, "")

		s.clock.Advance(time.Hour)
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", old), 401, "INVALID_API_KEY")
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", rolled), 200, "")

		// No grace: the old key stops at once. A key that never expires
		// rolls into one that never expires; an empty body is allowed.
		forever, foreverID := s.createKey(token, map[string]any{"name": "forever"})
		r = s.do("POST", "/api/v1/api-keys/"+foreverID+"/roll", nil, auth...)
		expect(t, r, 201, "")
		if v, ok := r.body["expires_at"]; !ok || v != nil {
			t.Fatalf("a key without expiry must roll into one without: %s", r.raw)
		}
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", forever), 401, "INVALID_API_KEY")
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", r.str("key")), 200, "")

		// A roll never lengthens the old key's life.
		_, dayID := s.createKey(token, map[string]any{"name": "day", "expires_in_days": 1})
		dayEnd := s.clock.Now().Add(24 * time.Hour).Truncate(time.Second).Format(time.RFC3339)
		expect(t, s.do("POST", "/api/v1/api-keys/"+dayID+"/roll", `{"grace_period_seconds":604800}`, auth...), 201, "")
		r = s.do("GET", "/api/v1/api-keys", nil, auth...)
		for _, d := range r.body["data"].([]any) {
			if k := d.(map[string]any); k["id"] == dayID && k["expires_at"] != dayEnd {
				t.Fatalf("a week of grace moved a one-day key's expiry from %s to %v", dayEnd, k["expires_at"])
			}
		}

		// Same access rules as delete.
		narrow, _ := s.createKey(token, map[string]any{"name": "narrow", "scopes": []string{"apps:read"}})
		expect(t, s.do("POST", "/api/v1/api-keys/"+foreverID+"/roll", nil, "X-API-Key", narrow), 403, "INSUFFICIENT_SCOPE")
		expect(t, s.do("POST", "/api/v1/api-keys/"+rolledID+"/roll", nil, "Authorization", "Bearer "+other), 404, "NOT_FOUND")
		expect(t, s.do("POST", "/api/v1/api-keys/00000000-0000-4000-8000-000000000000/roll", nil, auth...), 404, "NOT_FOUND")
		expect(t, s.do("POST", "/api/v1/api-keys/not-a-uuid/roll", nil, auth...), 404, "NOT_FOUND")
		expect(t, s.do("POST", "/api/v1/api-keys/"+rolledID+"/roll", nil), 401, "UNAUTHORIZED")

		for _, tc := range []struct{ name, body, code string }{
			{"negative", `{"grace_period_seconds":-1}`, "VALIDATION_ERROR"},
			{"over a week", `{"grace_period_seconds":604801}`, "VALIDATION_ERROR"},
			{"fraction", `{"grace_period_seconds":1.5}`, "VALIDATION_ERROR"},
			{"string", `{"grace_period_seconds":"60"}`, "INVALID_JSON"},
			{"not an object", `[1]`, "INVALID_JSON"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				expect(t, s.do("POST", "/api/v1/api-keys/"+rolledID+"/roll", tc.body, auth...), 400, tc.code)
			})
		}
	})
}
