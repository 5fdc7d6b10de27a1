package cache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/cache/cachetest"
	"github.com/zectre/zectre-auth/store"
)

func newClient(t *testing.T, url string) rueidis.Client {
	t.Helper()
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// Two replicas (two clients) count towards one limit.
func TestRedisCounterShared(t *testing.T) {
	url := cachetest.RedisURL(t)
	prefix := cachetest.Prefix(t)
	a := cache.NewRedisCounter(newClient(t, url), prefix)
	b := cache.NewRedisCounter(newClient(t, url), prefix)
	ctx := context.Background()

	if n, reset, err := a.Get(ctx, "k"); n != 0 || reset != 0 || err != nil {
		t.Fatalf("Get of an unseen key = %d, %v, %v; want 0, 0, nil", n, reset, err)
	}
	const workers, each = 4, 50
	var wg sync.WaitGroup
	for i := range workers {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Go(func() {
			for range each {
				if _, _, err := c.Incr(ctx, "k", time.Minute); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, c := range []*cache.RedisCounter{a, b} {
		n, reset, err := c.Get(ctx, "k")
		if err != nil || n != workers*each {
			t.Fatalf("Get = %d, %v; want %d", n, err, workers*each)
		}
		if reset <= 0 || reset > time.Minute {
			t.Fatalf("Get reset = %v, want in (0, 1m]", reset)
		}
	}
	n, reset, err := b.Incr(ctx, "k", time.Minute)
	if err != nil || n != workers*each+1 || reset <= 0 || reset > time.Minute {
		t.Fatalf("Incr = %d, %v, %v", n, reset, err)
	}
	if n, _, _ := a.Get(ctx, "other"); n != 0 {
		t.Fatalf("Get of another key = %d, want 0", n)
	}
}

// The window is fixed by its first event; once it ends, counting restarts.
func TestRedisCounterWindow(t *testing.T) {
	url := cachetest.RedisURL(t)
	c := cache.NewRedisCounter(newClient(t, url), cachetest.Prefix(t))
	ctx := context.Background()
	const window = 150 * time.Millisecond
	if n, _, err := c.Incr(ctx, "k", window); err != nil || n != 1 {
		t.Fatalf("first Incr = %d, %v", n, err)
	}
	time.Sleep(window / 2)
	if n, reset, _ := c.Incr(ctx, "k", window); n != 2 || reset > window/2+10*time.Millisecond {
		t.Fatalf("Incr within the window = %d, reset %v; want 2, about %v or less", n, reset, window/2)
	}
	time.Sleep(window)
	if n, reset, err := c.Get(ctx, "k"); n != 0 || reset != 0 || err != nil {
		t.Fatalf("Get after the window = %d, %v, %v; want 0, 0, nil", n, reset, err)
	}
	if n, reset, _ := c.Incr(ctx, "k", window); n != 1 || reset <= window/2 {
		t.Fatalf("Incr in a new window = %d, reset %v; want 1, a whole window", n, reset)
	}
}

// Without a fallback, an unreachable Redis is a store.ErrUnavailable.
func TestRedisCounterDown(t *testing.T) {
	url, stop, _ := cachetest.StartRedis(t)
	c := cache.NewRedisCounter(newClient(t, url), cachetest.Prefix(t))
	stop()
	ctx := context.Background()
	if _, _, err := c.Incr(ctx, "k", time.Minute); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Incr with Redis down: %v, want ErrUnavailable", err)
	}
	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get with Redis down: %v, want ErrUnavailable", err)
	}
	if err := c.Decr(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Decr with Redis down: %v, want ErrUnavailable", err)
	}
}

// The cache's Counter is the shared one when Redis is configured.
func TestStoreCounterShared(t *testing.T) {
	url := cachetest.RedisURL(t)
	prefix := cachetest.Prefix(t)
	a := openCache(t, sqliteStore(t), cache.Options{RedisURL: url, Prefix: prefix})
	b := openCache(t, sqliteStore(t), cache.Options{RedisURL: url, Prefix: prefix})
	ctx := context.Background()
	a.Counter().Incr(ctx, "fail:acct:x@example.com", time.Minute)
	if n, _, err := b.Counter().Incr(ctx, "fail:acct:x@example.com", time.Minute); err != nil || n != 2 {
		t.Fatalf("second replica's Incr = %d, %v; want 2", n, err)
	}
}

// Decr in Redis: the same rules, and the window keeps its end.
func TestRedisCounterDecr(t *testing.T) {
	url := cachetest.RedisURL(t)
	testDecr(t, cache.NewRedisCounter(newClient(t, url), cachetest.Prefix(t)))
}

// Reservations across replicas: parallel reservations (Incr, compare,
// Decr when over the limit) admit exactly the limit.
func TestRedisCounterReservations(t *testing.T) {
	url := cachetest.RedisURL(t)
	prefix := cachetest.Prefix(t)
	a := cache.NewRedisCounter(newClient(t, url), prefix)
	b := cache.NewRedisCounter(newClient(t, url), prefix)
	ctx := context.Background()
	const limit, attempts = 5, 60
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range attempts {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Go(func() {
			n, _, err := c.Incr(ctx, "r", time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if n > limit {
				if err := c.Decr(ctx, "r"); err != nil {
					t.Error(err)
				}
				return
			}
			admitted.Add(1)
		})
	}
	wg.Wait()
	if admitted.Load() != limit {
		t.Fatalf("admitted %d, want %d", admitted.Load(), limit)
	}
	if n, _, _ := a.Get(ctx, "r"); n != limit {
		t.Fatalf("count after the refused gave back = %d, want %d", n, limit)
	}
}
