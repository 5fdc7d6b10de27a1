package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/cache/cachetest"
	"github.com/zectre/zectre-auth/store/storetest"
)

// replicaEnv is the environment of one deployment: PostgreSQL, Redis under a
// prefix of its own, an upstream, and every other request required.
func replicaEnv(t *testing.T, redisURL, upstream string) (environ []string, dir string) {
	return replicaEnvDB(t, storetest.PostgresURL(t), redisURL, upstream)
}

// replicaEnvDB is replicaEnv on the database at databaseURL.
func replicaEnvDB(t *testing.T, databaseURL, redisURL, upstream string) (environ []string, dir string) {
	dir = t.TempDir()
	cfg := filepath.Join(dir, "zectre-auth.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("default_auth = \"required\"\nupstream = %q\n", upstream)), 0o600); err != nil {
		t.Fatal(err)
	}
	prefix := make([]byte, 6)
	rand.Read(prefix)
	return env(
		"ZECTRE_AUTH_CONFIG="+cfg,
		"ZECTRE_AUTH_DATABASE_URL="+databaseURL,
		"ZECTRE_AUTH_JWT_SECRET="+testSecret,
		"ZECTRE_AUTH_REDIS_URL="+redisURL,
		"ZECTRE_AUTH_REDIS_PREFIX=test-"+hex.EncodeToString(prefix)+":",
	), dir
}

// proxied sends GET path through s with the given headers and returns the
// status.
func proxied(t *testing.T, s *server, path string, headers ...string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	noteHeaders(headers...)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// until polls check every 2 ms and returns how long it took to become true,
// failing after limit.
func until(t *testing.T, limit time.Duration, what string, check func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !check() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// TestReplicasRevocation runs two replicas behind one Redis and one
// PostgreSQL in front of one upstream: a key deleted on one replica, and an
// account disabled from a third process, stop working on both within 100 ms.
func TestReplicasRevocation(t *testing.T) {
	up := newRecorder(t)
	environ, dir := replicaEnv(t, cachetest.RedisURL(t), up.srv.URL)
	a := start(t, dir, environ)
	b := start(t, t.TempDir(), environ)

	token, key := a.account("replicas@example.com")
	_, other := a.account("bystander@example.com")
	for _, s := range []*server{a, b} {
		for _, cred := range [][]string{{"X-API-Key", key}, {"Authorization", "Bearer " + token}, {"X-API-Key", other}} {
			if st := proxied(t, s, "/apps/1", cred...); st != 200 {
				t.Fatalf("warm-up through %s: %d", s.base, st)
			}
		}
	}
	if seen := up.take(); len(seen) != 6 || seen[0].Header.Get("X-Zectre-User-Id") == "" {
		t.Fatalf("upstream saw %d requests: %+v", len(seen), seen)
	}

	// Delete the key through replica A; replica B must refuse it.
	st, list := a.call("GET", "/api/v1/api-keys", "", "Authorization", "Bearer "+token)
	if st != 200 {
		t.Fatalf("list keys: %d", st)
	}
	id := list["data"].([]any)[0].(map[string]any)["id"].(string)
	if st, _ := a.call("DELETE", "/api/v1/api-keys/"+id, "", "Authorization", "Bearer "+token); st != 204 {
		t.Fatalf("delete key: %d", st)
	}
	took := until(t, time.Second, "revoked key refused by replica B", func() bool {
		return proxied(t, b, "/apps/1", "X-API-Key", key) == 401
	})
	t.Logf("key deleted on A, refused by B after %s", took)
	if took > 100*time.Millisecond {
		t.Errorf("revocation reached replica B after %s, want under 100ms", took)
	}
	if proxied(t, a, "/apps/1", "X-API-Key", key) != 401 {
		t.Fatal("replica A still accepts the deleted key")
	}

	// Disable the account from another process.
	if _, errOut, code := command(t, dir, environ, "users", "disable", "replicas@example.com"); code != 0 {
		t.Fatalf("users disable: %d %s", code, errOut)
	}
	for _, s := range []*server{a, b} {
		took := until(t, time.Second, "disabled account refused", func() bool {
			return proxied(t, s, "/apps/1", "Authorization", "Bearer "+token) == 401
		})
		t.Logf("account disabled by the admin command, token refused by %s after %s", s.base, took)
		if took > 100*time.Millisecond {
			t.Errorf("disable reached %s after %s, want under 100ms", s.base, took)
		}
	}
	// The bystander is untouched.
	for _, s := range []*server{a, b} {
		if st := proxied(t, s, "/apps/1", "X-API-Key", other); st != 200 {
			t.Fatalf("bystander's key: %d", st)
		}
	}
	a.stop()
	b.stop()
}

// TestRedisOutage stops Redis under a running replica: warm and cold keys
// keep working from the database, and revocation works again once Redis is
// back.
func TestRedisOutage(t *testing.T) {
	redisURL, stopRedis, restartRedis := cachetest.StartRedis(t)
	up := newRecorder(t)
	environ, dir := replicaEnv(t, redisURL, up.srv.URL)
	s := start(t, dir, environ)
	token, key := s.account("outage@example.com")
	_, cold := s.account("cold@example.com")
	if st := proxied(t, s, "/apps/1", "X-API-Key", key); st != 200 {
		t.Fatalf("warm-up: %d", st)
	}

	stopRedis()
	for i := 0; i < 50; i++ {
		if st := proxied(t, s, "/apps/1", "X-API-Key", key); st != 200 {
			t.Fatalf("warm key with Redis down, request %d: %d", i, st)
		}
	}
	if st := proxied(t, s, "/apps/1", "X-API-Key", cold); st != 200 {
		t.Fatalf("cold key with Redis down: %d", st)
	}
	if st := proxied(t, s, "/apps/1", "X-API-Key", "zec_"+strings.Repeat("A", 42)); st != 401 {
		t.Fatalf("malformed key with Redis down: %d", st)
	}
	// Still ready: the database serves while Redis is down.
	if st, b := s.call("GET", "/readyz", ""); st != 200 || b["status"] != "degraded" || b["redis"] != "unreachable" {
		t.Fatalf("/readyz with Redis down: %d %v", st, b)
	}

	restartRedis()
	until(t, 10*time.Second, "requests after Redis restart", func() bool {
		return proxied(t, s, "/apps/1", "X-API-Key", key) == 200
	})
	until(t, 10*time.Second, "/readyz ready after Redis restart", func() bool {
		_, b := s.call("GET", "/readyz", "")
		return b["status"] == "ready"
	})
	st, list := s.call("GET", "/api/v1/api-keys", "", "Authorization", "Bearer "+token)
	if st != 200 {
		t.Fatalf("list keys: %d", st)
	}
	id := list["data"].([]any)[0].(map[string]any)["id"].(string)
	if st, _ := s.call("DELETE", "/api/v1/api-keys/"+id, "", "Authorization", "Bearer "+token); st != 204 {
		t.Fatalf("delete key: %d", st)
	}
	if st := proxied(t, s, "/apps/1", "X-API-Key", key); st != 401 {
		t.Fatalf("deleted key after the outage: %d", st)
	}
	s.stop()
}

// TestReplicasShareLimits: failed logins counted in Redis add up across
// replicas, so two replicas enforce one limit.
func TestReplicasShareLimits(t *testing.T) {
	up := newRecorder(t)
	environ, dir := replicaEnv(t, cachetest.RedisURL(t), up.srv.URL)
	cfg := filepath.Join(dir, "zectre-auth.toml")
	raw, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(raw, "[limits]\nlogin_failures_per_account = 4\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	a := start(t, dir, environ)
	b := start(t, t.TempDir(), environ)
	a.account("limited@example.com")
	checkSharedLoginLimit(t, "limited@example.com", a, b)
	a.stop()
	b.stop()
}

// checkSharedLoginLimit spreads four failed logins of email (an account of
// password hunter2abc, limited to 4 failures) over replicas a and b; then
// both refuse even the right password: they count in one place.
func checkSharedLoginLimit(t *testing.T, email string, a, b *server) {
	t.Helper()
	wrong := fmt.Sprintf(`{"email":%q,"password":"not-the-password"}`, email)
	for i, s := range []*server{a, b, a, b} {
		if st, _ := s.call("POST", "/api/v1/auth/login", wrong); st != 401 {
			t.Fatalf("failure %d: %d", i+1, st)
		}
	}
	right := fmt.Sprintf(`{"email":%q,"password":"hunter2abc"}`, email)
	for _, s := range []*server{a, b} {
		if st, body := s.call("POST", "/api/v1/auth/login", right); st != 429 {
			t.Fatalf("login after 4 failures spread over two replicas: %d %v", st, body)
		}
	}
}
