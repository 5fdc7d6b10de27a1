package main

import (
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/cache/cachetest"
)

// TestDrillRedisKilledUnderLoad kills Redis (SIGKILL) under two replicas
// while clients send warm credentials through proxy mode and forward-auth of
// both, restarts it empty on the same port, and requires that no request
// failed. Then a key deleted on replica A must be refused by replica B,
// which read it through the restarted Redis: the invalidation works again.
func TestDrillRedisKilledUnderLoad(t *testing.T) {
	redisURL, killRedis, restartRedis := cachetest.StartRedis(t)
	up, upstreamHits := countingUpstream(t)
	environ, dir := replicaEnv(t, redisURL, up.URL)
	a := start(t, dir, environ)
	b := start(t, t.TempDir(), environ)

	token, key := a.account("drill-redis@example.com")
	_, other := a.account("drill-redis-2@example.com")
	revokeToken, revoked := a.account("drill-redis-revoke@example.com")
	creds := [][]string{{"X-API-Key", key}, {"Authorization", "Bearer " + other}, {"Authorization", "Bearer " + token}}
	for _, s := range []*server{a, b} {
		for _, c := range append(creds, []string{"X-API-Key", revoked}) {
			for _, path := range []string{"/apps/1", "/api/v1/auth/verify"} {
				if st := proxied(t, s, path, c...); st != 200 {
					t.Fatalf("warm-up of %s through %s: %d", path, s.base, st)
				}
			}
		}
	}

	l := startLoad(t,
		loadTarget{"proxy A", a.base + "/apps/1", creds},
		loadTarget{"forward-auth A", a.base + "/api/v1/auth/verify", creds},
		loadTarget{"proxy B", b.base + "/apps/1", creds},
		loadTarget{"forward-auth B", b.base + "/api/v1/auth/verify", creds},
	)
	l.waitSent(0, 200, 0, 30*time.Second)

	// Down for longer than the 1 s back-off, so that lookups try Redis
	// again, fail again and go back to the database.
	down := l.next()
	killRedis()
	l.waitSent(down, 200, 2500*time.Millisecond, 30*time.Second)

	back := l.next()
	restartRedis()
	for _, s := range []*server{a, b} {
		until(t, 15*time.Second, "/readyz ready after the Redis restart", func() bool {
			_, body := s.call("GET", "/readyz", "")
			return body["status"] == "ready"
		})
	}
	// Past the back-off, so that lookups run through Redis again.
	l.waitSent(back, 200, 1500*time.Millisecond, 30*time.Second)
	l.stop()
	report, failed := l.report(back)
	t.Logf("%s; upstream received %d requests", report, upstreamHits.Load())
	if failed {
		t.Fatalf("requests failed with Redis killed and restarted: %s", report)
	}
	for _, s := range []*server{a, b} {
		logs := s.logs()
		if !strings.Contains(logs, "redis unreachable, answering from the store") || !strings.Contains(logs, "redis reachable again") {
			t.Fatalf("%s did not log the outage and the recovery:\n%s", s.base, logs)
		}
		m := scrape(t, s.admin+"/metrics")
		t.Logf("%s: %v failed Redis calls, redis_up %v, store-tier key lookups %v",
			s.base, m["zectre_auth_redis_errors_total"], m["zectre_auth_redis_up"],
			metricSum(m, "zectre_auth_cache_lookups_total{", `kind="key"`, `tier="store"`))
	}

	// Replica B reads the key through the restarted Redis, which tracks it
	// for B: the entry then lives 10 minutes in B unless invalidated.
	redisLookups := func() float64 {
		return metricSum(scrape(t, b.admin+"/metrics"), "zectre_auth_cache_lookups_total{", `kind="key"`, `tier="redis"`)
	}
	before := redisLookups()
	until(t, 15*time.Second, "replica B reads the key through Redis", func() bool {
		return proxied(t, b, "/apps/1", "X-API-Key", revoked) == 200 && redisLookups() > before
	})
	st, list := a.call("GET", "/api/v1/api-keys", "", "Authorization", "Bearer "+revokeToken)
	if st != 200 {
		t.Fatalf("list keys: %d", st)
	}
	id := list["data"].([]any)[0].(map[string]any)["id"].(string)
	if st, _ := a.call("DELETE", "/api/v1/api-keys/"+id, "", "Authorization", "Bearer "+revokeToken); st != 204 {
		t.Fatalf("delete key: %d", st)
	}
	// A generous bound: without the invalidation B would answer from its
	// entry for 10 minutes.
	took := until(t, 10*time.Second, "the key deleted on A refused by B", func() bool {
		return proxied(t, b, "/apps/1", "X-API-Key", revoked) == 401
	})
	t.Logf("key deleted on replica A after the Redis restart, refused by replica B after %s", took)
	for _, s := range []*server{a, b} {
		if st := proxied(t, s, "/api/v1/auth/verify", "X-API-Key", revoked); st != 401 {
			t.Fatalf("forward-auth of %s with the deleted key: %d", s.base, st)
		}
		if st := proxied(t, s, "/apps/1", "X-API-Key", key); st != 200 {
			t.Fatalf("another key through %s after the revocation: %d", s.base, st)
		}
	}
	a.stop()
	b.stop()
}
