package handlers_test

import (
	"strings"
	"testing"
	"time"
)

func TestAPIKeys(t *testing.T) {
	stores(t, func(t *testing.T, url string) {
		s := startService(t, url, testPolicy())
		token := s.signupLogin("dave@example.com")
		auth := []string{"Authorization", "Bearer " + token}

		r := s.do("POST", "/api/v1/api-keys", `{"name":"GitHub Actions","scopes":["*"],"expires_in_days":90}`, auth...)
		expect(t, r, 201, "")
		key, keyID := r.str("key"), r.str("id")
		if !strings.HasPrefix(key, "zec_") || r.str("prefix") != key[:8] || r.str("name") != "GitHub Actions" || !uuidRE.MatchString(keyID) {
			t.Fatalf("created key: %s", r.raw)
		}
		exp, err := time.Parse(time.RFC3339, r.str("expires_at"))
		if err != nil || exp.Sub(s.clock.Now()).Round(time.Hour) != 90*24*time.Hour {
			t.Fatalf("expires_at %q, want 90 days from now", r.str("expires_at"))
		}
		second, _ := s.createKey(token, map[string]any{"name": "deploy", "scopes": []string{"apps:read", "apps:write"}})
		r = s.do("POST", "/api/v1/api-keys", `{"name":"forever"}`, auth...)
		expect(t, r, 201, "")
		if v, ok := r.body["expires_at"]; !ok || v != nil {
			t.Fatalf("absent expires_in_days must mean no expiry: %s", r.raw)
		}
		if sc, _ := r.body["scopes"].([]any); len(sc) != 1 || sc[0] != "*" {
			t.Fatalf("default scopes: %s", r.raw)
		}

		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", key), 200, "")
		expect(t, s.do("GET", "/api/v1/user", nil, "Authorization", "Bearer "+key), 200, "")

		r = s.do("GET", "/api/v1/api-keys", nil, "X-API-Key", key)
		expect(t, r, 200, "")
		data, _ := r.body["data"].([]any)
		if len(data) != 3 || strings.Contains(string(r.raw), key) || strings.Contains(string(r.raw), second) {
			t.Fatalf("list: %s", r.raw)
		}
		names := []string{}
		for _, d := range data {
			k := d.(map[string]any)
			names = append(names, k["name"].(string))
			for _, f := range []string{"id", "name", "prefix", "scopes", "expires_at", "last_used_at", "created_at"} {
				if _, ok := k[f]; !ok {
					t.Fatalf("list entry lacks %q: %v", f, k)
				}
			}
			if _, ok := k["key"]; ok {
				t.Fatalf("list shows a raw key: %v", k)
			}
		}
		if strings.Join(names, ",") != "forever,deploy,GitHub Actions" {
			t.Fatalf("list order %v, want newest first", names)
		}

		// A key without "*" cannot manage keys, but can still identify itself.
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", second), 200, "")
		expect(t, s.do("GET", "/api/v1/api-keys", nil, "X-API-Key", second), 403, "INSUFFICIENT_SCOPE")
		expect(t, s.do("POST", "/api/v1/api-keys", `{"name":"escalate"}`, "X-API-Key", second), 403, "INSUFFICIENT_SCOPE")
		expect(t, s.do("DELETE", "/api/v1/api-keys/"+keyID, nil, "X-API-Key", second), 403, "INSUFFICIENT_SCOPE")

		// Someone else's key, an unknown id and a malformed id are all 404.
		other := s.signupLogin("eve@example.com")
		expect(t, s.do("DELETE", "/api/v1/api-keys/"+keyID, nil, "Authorization", "Bearer "+other), 404, "NOT_FOUND")
		expect(t, s.do("DELETE", "/api/v1/api-keys/00000000-0000-4000-8000-000000000000", nil, auth...), 404, "NOT_FOUND")
		expect(t, s.do("DELETE", "/api/v1/api-keys/not-a-uuid", nil, auth...), 404, "NOT_FOUND")
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", key), 200, "")

		r = s.do("DELETE", "/api/v1/api-keys/"+keyID, nil, auth...)
		if r.status != 204 || len(r.raw) != 0 {
			t.Fatalf("delete: %d %s", r.status, r.raw)
		}
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", key), 401, "INVALID_API_KEY")
		expect(t, s.do("DELETE", "/api/v1/api-keys/"+keyID, nil, auth...), 404, "NOT_FOUND")

		for _, tc := range []struct{ name, body, code string }{
			{"missing name", `{}`, "VALIDATION_ERROR"},
			{"blank name", `{"name":"   "}`, "VALIDATION_ERROR"},
			{"empty scopes", `{"name":"x","scopes":[]}`, "VALIDATION_ERROR"},
			{"upper scope", `{"name":"x","scopes":["Apps"]}`, "VALIDATION_ERROR"},
			{"comma scope", `{"name":"x","scopes":["a,b"]}`, "VALIDATION_ERROR"},
			{"long scope", `{"name":"x","scopes":["` + strings.Repeat("a", 65) + `"]}`, "VALIDATION_ERROR"},
			{"too many scopes", `{"name":"x","scopes":[` + strings.Repeat(`"a",`, 32) + `"b"]}`, "VALIDATION_ERROR"},
			{"zero days", `{"name":"x","expires_in_days":0}`, "VALIDATION_ERROR"},
			{"fraction days", `{"name":"x","expires_in_days":1.5}`, "VALIDATION_ERROR"},
			{"too many days", `{"name":"x","expires_in_days":3651}`, "VALIDATION_ERROR"},
			{"negative days", `{"name":"x","expires_in_days":-1}`, "VALIDATION_ERROR"},
			{"string days", `{"name":"x","expires_in_days":"30"}`, "INVALID_JSON"},
			{"scopes string", `{"name":"x","scopes":"*"}`, "INVALID_JSON"},
			{"scope number", `{"name":"x","scopes":[1]}`, "INVALID_JSON"},
			{"name number", `{"name":1}`, "INVALID_JSON"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				expect(t, s.do("POST", "/api/v1/api-keys", tc.body, auth...), 400, tc.code)
			})
		}
		expect(t, s.do("POST", "/api/v1/api-keys", `{"name":"x","expires_in_days":null,"scopes":null}`, auth...), 201, "")
		expect(t, s.do("GET", "/api/v1/api-keys", nil), 401, "UNAUTHORIZED")

		// An expired key stops working.
		short, _ := s.createKey(token, map[string]any{"name": "short", "expires_in_days": 1})
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", short), 200, "")
		s.clock.Advance(24*time.Hour + time.Second)
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", short), 401, "INVALID_API_KEY")
	})
}

// TestKeyScopeWildcards: '*' is a scope only alone. A key asking for a
// wildcard inside a scope is refused with a message that says so, and no
// key is made; "*" alone, and next to named scopes, is kept.
func TestKeyScopeWildcards(t *testing.T) {
	s := startService(t, storeURLForOneStore(t), testPolicy())
	token := s.signupLogin("wild@example.com")
	auth := []string{"Authorization", "Bearer " + token}
	for _, tc := range []struct {
		name   string
		scopes []string
		msg    string // "" : created
	}{
		{"all", []string{"*"}, ""},
		{"all and named", []string{"*", "apps:read"}, ""},
		{"named", []string{"apps:read", "apps:write"}, ""},
		{"trailing wildcard", []string{"apps:*"}, "`*` is only valid alone"},
		{"leading wildcard", []string{"*:read"}, "`*` is only valid alone"},
		{"double star", []string{"**"}, "`*` is only valid alone"},
		{"wildcard after a good scope", []string{"apps:read", "billing:*"}, "`*` is only valid alone"},
		{"glued star", []string{"apps*"}, "`*` is only valid alone"},
		{"bad characters", []string{"Apps:*"}, "scopes must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "wild " + tc.name
			r := s.do("POST", "/api/v1/api-keys", map[string]any{"name": name, "scopes": tc.scopes}, auth...)
			if tc.msg == "" {
				expect(t, r, 201, "")
				return
			}
			expect(t, r, 400, "VALIDATION_ERROR")
			e, _ := r.body["error"].(map[string]any)
			if m, _ := e["message"].(string); !strings.Contains(m, tc.msg) {
				t.Fatalf("message %q, want it to say %q", m, tc.msg)
			}
			if l := s.do("GET", "/api/v1/api-keys", nil, auth...); strings.Contains(string(l.raw), name) {
				t.Fatal("a refused key was made")
			}
		})
	}
}
