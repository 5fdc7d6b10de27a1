package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/cache/cachetest"
	"github.com/zectre/zectre-auth/store"
)

// Redis going away mid-run slows lookups down to the store but never fails
// them; once it is back, the Redis tier is used again.
func TestRedisOutage(t *testing.T) {
	url, stop, restart := cachetest.StartRedis(t)
	st := sqliteStore(t)
	cs := &countingStore{Store: st}
	prefix := cachetest.Prefix(t)
	c := openCache(t, cs, cache.Options{
		RedisURL: url, Prefix: prefix, RepublishInterval: 50 * time.Millisecond,
		Backoff: 200 * time.Millisecond, FallbackTTL: 100 * time.Millisecond,
	})
	runCache(t, c)
	ctx := context.Background()
	u, k := seed(t, st)
	_, gone := seed(t, st)
	warm(t, c, cs, u, k)
	if _, err := c.APIKeyByDigest(ctx, gone.Digest); err != nil {
		t.Fatal(err)
	}

	stop()
	before := cs.keys.Load()
	// Long enough to cross several back-offs and fallback TTLs.
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		got, err := c.APIKeyByDigest(ctx, k.Digest)
		if err != nil || got.ID != k.ID {
			t.Fatalf("key lookup while Redis is down: %+v, %v", got, err)
		}
		if usr, err := c.UserByID(ctx, u.ID); err != nil || usr.ID != u.ID {
			t.Fatalf("user lookup while Redis is down: %+v, %v", usr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if cs.keys.Load() == before {
		t.Fatal("no lookup reached the store while Redis was down")
	}
	// Fallback entries are short-lived, so a deletion through the store
	// alone (another replica, unable to publish) is seen within FallbackTTL.
	// Through this cache it is seen at once, and Redis learns of it later.
	if _, err := c.DeleteAPIKey(ctx, gone.UserID, gone.ID); err != nil {
		t.Fatalf("DeleteAPIKey while Redis is down: %v", err)
	}
	if _, err := c.APIKeyByDigest(ctx, gone.Digest); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("lookup of a key deleted while Redis is down: %v", err)
	}
	// Counting goes on in process.
	if n, _, err := c.Counter().Incr(ctx, "outage", time.Minute); err != nil || n != 1 {
		t.Fatalf("Counter().Incr while Redis is down = %d, %v", n, err)
	}
	if err := c.PingRedis(ctx); err == nil {
		t.Fatal("PingRedis succeeded while Redis is down")
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping (the database) failed while only Redis is down: %v", err)
	}

	restart()
	inspect := redisClient(t, url)
	keyName := prefix + "key:" + hexDigest(k.Digest)
	took := waitFor(t, "the key entry back in Redis", 10*time.Second, func() bool {
		if _, err := c.APIKeyByDigest(ctx, k.Digest); err != nil {
			t.Fatalf("lookup after restart: %v", err)
		}
		_, ok := redisValue(t, inspect, keyName)
		return ok
	})
	t.Logf("Redis tier in use again %v after restart", took)
	// The deletion made during the outage was published once Redis was back.
	waitFor(t, "the tombstone published after restart", 10*time.Second, func() bool {
		v, ok := redisValue(t, inspect, prefix+"key:"+hexDigest(gone.Digest))
		return ok && v == "-"
	})
	// And warm lookups are front-tier hits again.
	warm(t, c, cs, u, k)
	if err := c.PingRedis(ctx); err != nil {
		t.Fatalf("PingRedis after restart: %v", err)
	}
}
