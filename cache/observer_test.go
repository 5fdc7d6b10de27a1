package cache_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/cache/cachetest"
	"github.com/zectre/zectre-auth/store"
)

// recorder is a cache.Observer that remembers what it was told.
type recorder struct {
	mu      sync.Mutex
	lookups map[string]int // "kind/tier/result"
	redis   int            // RedisError calls
	ups     []bool         // RedisUp calls, in order
	stores  map[cache.Kind]int
}

var _ cache.Observer = (*recorder)(nil)

func newRecorder() *recorder {
	return &recorder{lookups: map[string]int{}, stores: map[cache.Kind]int{}}
}

func (r *recorder) Lookup(k cache.Kind, t cache.Tier, res cache.Result) {
	r.mu.Lock()
	r.lookups[fmt.Sprintf("%s/%s/%s", k, t, res)]++
	r.mu.Unlock()
}

func (r *recorder) RedisError() {
	r.mu.Lock()
	r.redis++
	r.mu.Unlock()
}

func (r *recorder) RedisUp(up bool) {
	r.mu.Lock()
	r.ups = append(r.ups, up)
	r.mu.Unlock()
}

func (r *recorder) StoreError(k cache.Kind) {
	r.mu.Lock()
	r.stores[k]++
	r.mu.Unlock()
}

// take returns the lookups seen since the last take and forgets them.
func (r *recorder) take() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.lookups
	r.lookups = map[string]int{}
	return l
}

func (r *recorder) state() (redisErrors int, ups []bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.redis, append([]bool(nil), r.ups...)
}

func sameCounts(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: observed %v, want %v", what, got, want)
	}
}

// In process, every lookup reports the front tier, and each front miss the
// store's answer; a failing store is reported as a store error.
func TestObserverInProcess(t *testing.T) {
	st := openStore(t, "sqlite://"+t.TempDir()+"/observed.db")
	obs := newRecorder()
	c := openCache(t, st, cache.Options{Observer: obs, FallbackTTL: time.Minute})
	ctx := context.Background()
	u, k := seed(t, st)
	none := unknownDigest()

	for range 2 {
		if _, err := c.APIKeyByDigest(ctx, k.Digest); err != nil {
			t.Fatal(err)
		}
	}
	sameCounts(t, "known key twice", obs.take(), map[string]int{
		"key/front/miss": 1, "key/store/hit": 1, "key/front/hit": 1,
	})
	for range 2 {
		if _, err := c.APIKeyByDigest(ctx, none); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown key: %v", err)
		}
	}
	sameCounts(t, "unknown key twice", obs.take(), map[string]int{
		"key/front/miss": 1, "key/store/miss": 1, "key/front/negative_hit": 1,
	})
	for range 2 {
		if _, err := c.UserByID(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	sameCounts(t, "user twice", obs.take(), map[string]int{
		"user/front/miss": 1, "user/store/hit": 1, "user/front/hit": 1,
	})
	// Not a uuid: answered without asking any tier.
	if _, err := c.UserByID(ctx, "not-a-uuid"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("malformed user id: %v", err)
	}
	sameCounts(t, "malformed user id", obs.take(), map[string]int{})

	st.Close() // the database goes away under the cache
	if _, err := c.APIKeyByDigest(ctx, unknownDigest()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("lookup with the store closed: %v, want ErrUnavailable", err)
	}
	obs.mu.Lock()
	stores := obs.stores[cache.KindKey]
	obs.mu.Unlock()
	if stores != 1 {
		t.Errorf("store errors observed = %d, want 1", stores)
	}
	if errs, ups := obs.state(); errs != 0 || len(ups) != 0 {
		t.Errorf("without Redis: %d Redis errors and RedisUp calls %v observed, want none", errs, ups)
	}
}

// With Redis, a front miss reports the Redis tier; an outage reports Redis
// down once and its errors, and the recovery reports it up again.
func TestObserverRedis(t *testing.T) {
	url, stop, restart := cachetest.StartRedis(t)
	st := sqliteStore(t)
	obs := newRecorder()
	c := openCache(t, st, cache.Options{
		RedisURL: url, Prefix: cachetest.Prefix(t), Observer: obs, Backoff: 50 * time.Millisecond,
	})
	ctx := context.Background()
	if _, ups := obs.state(); fmt.Sprint(ups) != "[true]" {
		t.Fatalf("RedisUp calls after Open = %v, want [true]", ups)
	}
	_, k := seed(t, st)
	if _, err := c.APIKeyByDigest(ctx, k.Digest); err != nil {
		t.Fatal(err)
	}
	sameCounts(t, "first lookup", obs.take(), map[string]int{
		"key/front/miss": 1, "key/redis/miss": 1, "key/store/hit": 1,
	})

	stop()
	waitFor(t, "Redis reported down", 10*time.Second, func() bool {
		if _, err := c.APIKeyByDigest(ctx, unknownDigest()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("lookup while Redis is down: %v", err)
		}
		errs, ups := obs.state()
		return errs > 0 && len(ups) == 2
	})
	if _, ups := obs.state(); ups[1] {
		t.Fatalf("RedisUp calls = %v, want [true false]", ups)
	}

	restart()
	waitFor(t, "Redis reported up again", 10*time.Second, func() bool {
		if _, err := c.APIKeyByDigest(ctx, unknownDigest()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("lookup after restart: %v", err)
		}
		_, ups := obs.state()
		return len(ups) == 3
	})
	if _, ups := obs.state(); fmt.Sprint(ups) != "[true false true]" {
		t.Fatalf("RedisUp calls = %v, want [true false true]", ups)
	}
}
