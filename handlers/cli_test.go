package handlers_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCLIFlow(t *testing.T) {
	stores(t, func(t *testing.T, url string) {
		s := startService(t, url, testPolicy())
		s.signupLogin("frank@example.com")

		r := s.do("POST", "/api/v1/auth/cli/initiate", `{"device_name":"My MacBook"}`)
		expect(t, r, 200, "")
		code := r.str("code")
		if len(code) < 32 || r.str("auth_url") != "http://dashboard.test/auth/cli?code="+code {
			t.Fatalf("initiate: %s", r.raw)
		}
		exp, err := time.Parse(time.RFC3339, r.str("expires_at"))
		if d := exp.Sub(s.clock.Now()) - 10*time.Minute; err != nil || d > time.Second || d < -time.Second {
			t.Fatalf("expires_at %q, want now + 10 minutes", r.str("expires_at"))
		}

		r = s.do("GET", "/api/v1/auth/cli/status/"+code, nil)
		expect(t, r, 200, "")
		if string(r.raw) != `{"status":"pending","api_key":null,"user":null}` {
			t.Fatalf("pending status: %s", r.raw)
		}

		expect(t, s.do("POST", "/api/v1/auth/cli/complete", map[string]string{"code": code, "email": "frank@example.com", "password": "wrong-password"}), 401, "INVALID_CREDENTIALS")
		r = s.do("POST", "/api/v1/auth/cli/complete", map[string]string{"code": code, "email": "frank@example.com", "password": testPassword})
		expect(t, r, 200, "")
		key := r.str("api_key")
		if r.body["success"] != true || !strings.HasPrefix(key, "zec_") {
			t.Fatalf("complete: %s", r.raw)
		}
		expect(t, s.do("POST", "/api/v1/auth/cli/complete", map[string]string{"code": code, "email": "frank@example.com", "password": testPassword}), 409, "SESSION_USED")

		// The raw key does not rest in storage: only sealed, and erased once delivered.
		assertNotStored(t, url, key, code)

		// Ten CLIs poll at once: exactly one receives the key.
		var mu sync.Mutex
		got, used := []string{}, 0
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				r := s.do("GET", "/api/v1/auth/cli/status/"+code, nil)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case r.status == 200 && r.str("status") == "completed":
					got = append(got, r.str("api_key"))
					if u, _ := r.body["user"].(map[string]any); u["email"] != "frank@example.com" {
						t.Errorf("completed status user: %s", r.raw)
					}
				case r.status == 409 && r.code() == "SESSION_USED":
					used++
				default:
					t.Errorf("poll: %d %s", r.status, r.raw)
				}
			})
		}
		wg.Wait()
		if len(got) != 1 || got[0] != key || used != 9 {
			t.Fatalf("concurrent polls: delivered %d times (%v), %d SESSION_USED", len(got), got, used)
		}
		assertNotStored(t, url, key, code)

		// The key is named after the device and works.
		r = s.do("GET", "/api/v1/api-keys", nil, "X-API-Key", key)
		expect(t, r, 200, "")
		if !strings.Contains(string(r.raw), `"name":"CLI: My MacBook"`) || !strings.Contains(string(r.raw), `"scopes":["*"]`) {
			t.Fatalf("cli key: %s", r.raw)
		}

		// Unknown codes.
		for _, c := range []string{"does-not-exist", strings.Repeat("a", 64), strings.Repeat("a", 5000)} {
			expect(t, s.do("GET", "/api/v1/auth/cli/status/"+c, nil), 404, "INVALID_CODE")
			expect(t, s.do("POST", "/api/v1/auth/cli/complete", map[string]string{"code": c, "email": "frank@example.com", "password": testPassword}), 404, "INVALID_CODE")
		}
		expect(t, s.do("POST", "/api/v1/auth/cli/complete", `{"email":"frank@example.com","password":"hunter2abc"}`), 400, "VALIDATION_ERROR")

		// Expiry: status says so, complete is 410.
		r = s.do("POST", "/api/v1/auth/cli/initiate", nil)
		expect(t, r, 200, "")
		late := r.str("code")
		s.clock.Advance(10*time.Minute + time.Second)
		r = s.do("GET", "/api/v1/auth/cli/status/"+late, nil)
		expect(t, r, 200, "")
		if r.str("status") != "expired" || r.body["api_key"] != nil {
			t.Fatalf("expired status: %s", r.raw)
		}
		expect(t, s.do("POST", "/api/v1/auth/cli/complete", map[string]string{"code": late, "email": "frank@example.com", "password": testPassword}), 410, "CODE_EXPIRED")

		expect(t, s.do("POST", "/api/v1/auth/cli/initiate", `{"device_name":"`+strings.Repeat("d", 101)+`"}`), 400, "VALIDATION_ERROR")
		expect(t, s.do("POST", "/api/v1/auth/cli/initiate", `{"device_name":7}`), 400, "INVALID_JSON")
	})
}

// assertNotStored checks that neither the raw key nor the code is anywhere
// in the database: in the SQLite files byte for byte, in PostgreSQL through
// every text and bytea column.
func assertNotStored(t *testing.T, url string, secrets ...string) {
	t.Helper()
	path, ok := strings.CutPrefix(url, "sqlite://")
	if !ok {
		assertNotInPostgres(t, url, secrets...)
		return
	}
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("%s holds a secret in plaintext", filepath.Base(f))
			}
		}
	}
}
