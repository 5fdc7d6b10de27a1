package cache_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/cache"
)

func TestLocalCounterIncrGet(t *testing.T) {
	ctx := context.Background()
	c := cache.NewLocalCounter(1024)
	if n, reset, err := c.Get(ctx, "k"); n != 0 || reset != 0 || err != nil {
		t.Fatalf("Get of an unseen key = %d, %v, %v; want 0, 0, nil", n, reset, err)
	}
	for want := int64(1); want <= 3; want++ {
		n, reset, err := c.Incr(ctx, "k", time.Minute)
		if err != nil || n != want {
			t.Fatalf("Incr #%d = %d, %v", want, n, err)
		}
		if reset <= 0 || reset > time.Minute {
			t.Fatalf("Incr #%d reset = %v, want in (0, 1m]", want, reset)
		}
	}
	n, reset, err := c.Get(ctx, "k")
	if err != nil || n != 3 || reset <= 0 || reset > time.Minute {
		t.Fatalf("Get = %d, %v, %v; want 3, in (0, 1m], nil", n, reset, err)
	}
	// Get does not count.
	if n, _, _ := c.Get(ctx, "k"); n != 3 {
		t.Fatalf("second Get = %d, want 3", n)
	}
	if n, _, _ := c.Get(ctx, "other"); n != 0 {
		t.Fatalf("Get of another key = %d, want 0", n)
	}
}

// The window is fixed from its first event: later events do not extend it.
func TestLocalCounterWindowResets(t *testing.T) {
	ctx := context.Background()
	c := cache.NewLocalCounter(1024)
	// A window long enough that a loaded machine's late wake-up stays in it.
	const window, pause = time.Second, 200 * time.Millisecond
	c.Incr(ctx, "k", window)
	time.Sleep(pause)
	if n, reset, _ := c.Incr(ctx, "k", window); n != 2 || reset > window-pause {
		t.Fatalf("Incr within the window = %d, reset %v; want 2, at most %v", n, reset, window-pause)
	}
	time.Sleep(window)
	if n, reset, _ := c.Get(ctx, "k"); n != 0 || reset != 0 {
		t.Fatalf("Get after the window = %d, %v; want 0, 0", n, reset)
	}
	if n, _, _ := c.Incr(ctx, "k", window); n != 1 {
		t.Fatalf("Incr after the window = %d, want 1", n)
	}
	if n, _, _ := c.Get(ctx, "k"); n != 1 {
		t.Fatalf("Get in the new window = %d, want 1", n)
	}
}

// A window restarted by Incr must keep counting for its whole length, not
// vanish when the previous window would have ended.
func TestLocalCounterNewWindowLasts(t *testing.T) {
	ctx := context.Background()
	c := cache.NewLocalCounter(1024)
	const window = 60 * time.Millisecond
	c.Incr(ctx, "k", window)
	time.Sleep(window + 10*time.Millisecond)
	c.Incr(ctx, "k", window)
	c.Incr(ctx, "k", window)
	time.Sleep(window / 3)
	if n, _, _ := c.Get(ctx, "k"); n != 2 {
		t.Fatalf("Get a third into the new window = %d, want 2", n)
	}
}

func TestLocalCounterBounded(t *testing.T) {
	ctx := context.Background()
	c := cache.NewLocalCounter(100)
	for i := range 10_000 {
		key := fmt.Sprintf("addr:%d", i)
		if n, _, err := c.Incr(ctx, key, time.Minute); err != nil || n != 1 {
			t.Fatalf("Incr %s = %d, %v; want 1, nil", key, n, err)
		}
	}
	// Evicted keys read as zero; none reads as anything but 0 or 1.
	for i := range 10_000 {
		if n, _, err := c.Get(ctx, fmt.Sprintf("addr:%d", i)); err != nil || n > 1 {
			t.Fatalf("Get addr:%d = %d, %v", i, n, err)
		}
	}
}

func TestLocalCounterConcurrent(t *testing.T) {
	ctx := context.Background()
	c := cache.NewLocalCounter(1024)
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				c.Incr(ctx, "hot", time.Minute)
				c.Get(ctx, "hot")
			}
		})
	}
	wg.Wait()
	if n, _, _ := c.Get(ctx, "hot"); n != workers*each {
		t.Fatalf("count = %d, want %d: increments were lost", n, workers*each)
	}
}

// Decr gives one back within the open window, never below zero, never
// opening a window or moving its end.
func TestLocalCounterDecr(t *testing.T) {
	testDecr(t, cache.NewLocalCounter(1024))
}

func testDecr(t *testing.T, c authn.Counter) {
	t.Helper()
	ctx := context.Background()
	if err := c.Decr(ctx, "unseen"); err != nil {
		t.Fatal(err)
	}
	if n, reset, _ := c.Get(ctx, "unseen"); n != 0 || reset != 0 {
		t.Fatalf("Decr of an unseen key opened a window: %d, %v", n, reset)
	}
	c.Incr(ctx, "k", time.Minute)
	_, before, _ := c.Incr(ctx, "k", time.Minute)
	if err := c.Decr(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	n, after, err := c.Get(ctx, "k")
	if err != nil || n != 1 || after <= 0 || after > before {
		t.Fatalf("after Decr: %d, reset %v (before %v), %v; want 1, same window", n, after, before, err)
	}
	for range 3 {
		c.Decr(ctx, "k")
	}
	if n, _, _ := c.Get(ctx, "k"); n != 0 {
		t.Fatalf("count after more Decr than Incr = %d, want 0", n)
	}
	if n, _, _ := c.Incr(ctx, "k", time.Minute); n != 1 {
		t.Fatalf("Incr after Decr to zero = %d, want 1", n)
	}
}
