package main

import (
	"testing"
	"time"

	"github.com/zectre/zectre-auth/cache/cachetest"
)

// TestReplicasRevokeTokens: "log out everywhere" through replica A stops the
// caller's tokens on replica B within 100 ms (Redis), the command line does
// the same, and API keys keep working throughout.
func TestReplicasRevokeTokens(t *testing.T) {
	up := newRecorder(t)
	environ, dir := replicaEnv(t, cachetest.RedisURL(t), up.srv.URL)
	a := start(t, dir, environ)
	b := start(t, t.TempDir(), environ)

	token, key := a.account("revoke@example.com")
	other, _ := a.account("revoke-bystander@example.com")
	login := func(s *server) string {
		t.Helper()
		st, body := s.call("POST", "/api/v1/auth/login", `{"email":"revoke@example.com","password":"hunter2abc"}`)
		if st != 200 {
			t.Fatalf("login: %d %v", st, body)
		}
		return body["token"].(string)
	}
	second := login(b)
	for _, s := range []*server{a, b} {
		for _, tok := range []string{token, second} {
			if st := proxied(t, s, "/apps/1", "Authorization", "Bearer "+tok); st != 200 {
				t.Fatalf("warm-up through %s: %d", s.base, st)
			}
		}
	}

	if st, body := a.call("POST", "/api/v1/auth/sessions/revoke", "", "Authorization", "Bearer "+token); st != 204 {
		t.Fatalf("revoke: %d %v", st, body)
	}
	for _, s := range []*server{b, a} {
		for name, tok := range map[string]string{"the revoking token": token, "a token from B": second} {
			took := until(t, time.Second, name+" refused", func() bool {
				return proxied(t, s, "/apps/1", "Authorization", "Bearer "+tok) == 401
			})
			t.Logf("tokens revoked on A: %s refused by %s after %s", name, s.base, took)
			if took > 100*time.Millisecond {
				t.Errorf("revocation reached %s after %s, want under 100ms", s.base, took)
			}
		}
		if st, body := s.call("GET", "/api/v1/user", "", "Authorization", "Bearer "+token); st != 401 || errCode(body) != "INVALID_TOKEN" {
			t.Errorf("revoked token on %s: %d %v, want 401 INVALID_TOKEN", s.base, st, body)
		}
		if st := proxied(t, s, "/apps/1", "X-API-Key", key); st != 200 {
			t.Errorf("API key after revoking tokens, on %s: %d", s.base, st)
		}
		if st := proxied(t, s, "/apps/1", "Authorization", "Bearer "+other); st != 200 {
			t.Errorf("bystander's token on %s: %d", s.base, st)
		}
	}
	// A login right after the revocation, in the same second, gets a token
	// that works.
	fresh := login(a)
	for _, s := range []*server{a, b} {
		if st := proxied(t, s, "/apps/1", "Authorization", "Bearer "+fresh); st != 200 {
			t.Fatalf("fresh token on %s: %d", s.base, st)
		}
	}

	// The command line, from a third process, in a later second: the fresh
	// token is dated from the second after the first revocation.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	out, errOut, code := command(t, dir, environ, "users", "revoke-tokens", "revoke@example.com")
	if code != 0 {
		t.Fatalf("users revoke-tokens: %d %s", code, errOut)
	}
	t.Logf("users revoke-tokens: %s", out)
	for _, s := range []*server{a, b} {
		took := until(t, time.Second, "fresh token refused after the command", func() bool {
			return proxied(t, s, "/apps/1", "Authorization", "Bearer "+fresh) == 401
		})
		t.Logf("tokens revoked by the command: refused by %s after %s", s.base, took)
		if took > 100*time.Millisecond {
			t.Errorf("command's revocation reached %s after %s, want under 100ms", s.base, took)
		}
		if st := proxied(t, s, "/apps/1", "X-API-Key", key); st != 200 {
			t.Errorf("API key after the command, on %s: %d", s.base, st)
		}
	}
	if _, errOut, code := command(t, dir, environ, "users", "revoke-tokens", "nobody@example.com"); code != 1 {
		t.Errorf("revoke-tokens of an unknown account: exit %d %s, want 1", code, errOut)
	}
	a.stop()
	b.stop()
}
