package main

import (
	"testing"
	"time"

	"github.com/zectre/zectre-auth/cache/cachetest"
)

// TestReplicasRollKey rolls a key through replica A with a grace period of
// two seconds: both keys work on both replicas meanwhile, and the old one
// stops on both within a second of the grace period's end, with nobody
// deleting it. Replica B read the old key before the roll, so it must learn
// the new expiry from the change, not from its cache running out.
func TestReplicasRollKey(t *testing.T) {
	up := newRecorder(t)
	environ, dir := replicaEnv(t, cachetest.RedisURL(t), up.srv.URL)
	a := start(t, dir, environ)
	b := start(t, t.TempDir(), environ)
	defer a.stop()
	defer b.stop()

	token, key := a.account("roll-replicas@example.com")
	for _, s := range []*server{a, b} {
		if st := proxied(t, s, "/apps/1", "X-API-Key", key); st != 200 {
			t.Fatalf("warm-up through %s: %d", s.base, st)
		}
	}
	st, list := a.call("GET", "/api/v1/api-keys", "", "Authorization", "Bearer "+token)
	if st != 200 {
		t.Fatalf("list keys: %d", st)
	}
	id := list["data"].([]any)[0].(map[string]any)["id"].(string)

	const grace = 2 * time.Second
	sent := time.Now()
	st, rolled := a.call("POST", "/api/v1/api-keys/"+id+"/roll", `{"grace_period_seconds":2}`, "Authorization", "Bearer "+token)
	if st != 201 {
		t.Fatalf("roll: %d %v", st, rolled)
	}
	newKey, _ := rolled["key"].(string)
	for _, s := range []*server{a, b} {
		for _, k := range []string{key, newKey} {
			if st := proxied(t, s, "/apps/1", "X-API-Key", k); st != 200 {
				t.Fatalf("during the grace period through %s: %d", s.base, st)
			}
		}
	}
	st, list = b.call("GET", "/api/v1/api-keys", "", "Authorization", "Bearer "+token)
	if data, _ := list["data"].([]any); st != 200 || len(data) != 2 {
		t.Fatalf("list on B during the grace period: %d %v", st, list)
	}

	// The old key may stop once the grace period measured from before the
	// roll was sent is over; how late it stops is counted from then, which
	// can only overstate the delay.
	end := sent.Add(grace)
	time.Sleep(time.Until(end) - 200*time.Millisecond)
	for _, s := range []*server{a, b} {
		if st := proxied(t, s, "/apps/1", "X-API-Key", key); st != 200 {
			t.Fatalf("old key refused by %s before the grace period ended: %d", s.base, st)
		}
	}
	for _, s := range []*server{a, b} {
		until(t, grace+time.Second, "old key refused after the grace period", func() bool {
			return proxied(t, s, "/apps/1", "X-API-Key", key) == 401
		})
		late := time.Since(end)
		t.Logf("old key refused by %s %s after the grace period ended", s.base, late)
		if late > time.Second {
			t.Errorf("old key stopped on %s %s after its grace period, want within 1s", s.base, late)
		}
		if st := proxied(t, s, "/apps/1", "X-API-Key", newKey); st != 200 {
			t.Fatalf("rolled key through %s: %d", s.base, st)
		}
	}
	st, list = a.call("GET", "/api/v1/api-keys", "", "Authorization", "Bearer "+token)
	if data, _ := list["data"].([]any); st != 200 || len(data) != 2 {
		t.Fatalf("the old key must stay listed, expired, not deleted: %d %v", st, list)
	}
}
