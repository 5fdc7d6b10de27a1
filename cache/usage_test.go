package cache_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/cache"
)

// toucher records every batch; it fails the first fail calls.
type toucher struct {
	mu      sync.Mutex
	fail    int
	failAt  int // the call (from 1) that fails, whatever fail says
	batches []map[string]time.Time
	called  chan struct{}
}

func newToucher(fail int) *toucher {
	return &toucher{fail: fail, called: make(chan struct{}, 100)}
}

var errTouch = errors.New("database is down")

func (f *toucher) TouchAPIKeys(_ context.Context, used map[string]time.Time) error {
	f.mu.Lock()
	defer func() {
		f.mu.Unlock()
		f.called <- struct{}{}
	}()
	f.batches = append(f.batches, maps.Clone(used))
	if len(f.batches) == f.failAt {
		return errTouch
	}
	if f.fail > 0 {
		f.fail--
		return errTouch
	}
	return nil
}

func (f *toucher) calls() []map[string]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]time.Time(nil), f.batches...)
}

var _ cache.Toucher = (*toucher)(nil)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func sameBatch(t *testing.T, what string, got, want map[string]time.Time) {
	t.Helper()
	if !maps.EqualFunc(got, want, time.Time.Equal) {
		t.Fatalf("%s: batch %v, want %v", what, got, want)
	}
}

func TestUsageBatches(t *testing.T) {
	to := newToucher(0)
	u := cache.NewUsage(to, quietLog())
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	u.Used("k1", t0)
	u.Used("k2", t0.Add(time.Second))
	u.Used("k1", t0.Add(2*time.Second))
	u.Used("k1", t0.Add(time.Second)) // late arrival of an older use
	u.Used("k3", t0)
	if err := u.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	calls := to.calls()
	if len(calls) != 1 {
		t.Fatalf("%d TouchAPIKeys calls, want 1", len(calls))
	}
	sameBatch(t, "first flush", calls[0], map[string]time.Time{
		"k1": t0.Add(2 * time.Second), "k2": t0.Add(time.Second), "k3": t0,
	})
	// Nothing pending: no call at all.
	if err := u.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(to.calls()); n != 1 {
		t.Fatalf("empty flush made a call: %d calls", n)
	}
}

func TestUsageRetriesFailedBatch(t *testing.T) {
	to := newToucher(1)
	u := cache.NewUsage(to, quietLog())
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	u.Used("k1", t0)
	u.Used("k2", t0)
	if err := u.Flush(context.Background()); !errors.Is(err, errTouch) {
		t.Fatalf("flush err = %v, want %v", err, errTouch)
	}
	// Between the failure and the retry: k1 used again later, k2 reported
	// with an older time, k3 new.
	u.Used("k1", t0.Add(time.Minute))
	u.Used("k2", t0.Add(-time.Minute))
	u.Used("k3", t0)
	if err := u.Flush(context.Background()); err != nil {
		t.Fatalf("retry: %v", err)
	}
	calls := to.calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2", len(calls))
	}
	sameBatch(t, "failed batch", calls[0], map[string]time.Time{"k1": t0, "k2": t0})
	sameBatch(t, "retried batch", calls[1], map[string]time.Time{
		"k1": t0.Add(time.Minute), "k2": t0, "k3": t0,
	})
}

func TestUsageRunFlushesOnCancel(t *testing.T) {
	to := newToucher(0)
	u := cache.NewUsage(to, quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		u.Run(ctx, time.Hour) // the ticker never fires in this test
		close(done)
	}()
	at := time.Now()
	u.Used("k1", at)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	calls := to.calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1 final flush", len(calls))
	}
	sameBatch(t, "final flush", calls[0], map[string]time.Time{"k1": at})
}

func TestUsageRunFlushesEachInterval(t *testing.T) {
	to := newToucher(1) // the first tick fails; the next one retries
	u := cache.NewUsage(to, quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		u.Run(ctx, 10*time.Millisecond)
		close(done)
	}()
	at := time.Now()
	u.Used("k1", at)
	for range 2 {
		select {
		case <-to.called:
		case <-time.After(10 * time.Second):
			t.Fatal("no flush within 10s")
		}
	}
	cancel()
	<-done
	calls := to.calls()
	sameBatch(t, "failed tick", calls[0], map[string]time.Time{"k1": at})
	sameBatch(t, "retrying tick", calls[1], map[string]time.Time{"k1": at})
}

// A flush of many keys writes them usageChunk (1 000) at a time; a failed
// write puts every key of the flush back, so the retry loses none.
func TestUsageFlushesInChunks(t *testing.T) {
	to := newToucher(0)
	u := cache.NewUsage(to, quietLog())
	at := time.Now()
	want := map[string]time.Time{}
	for range 2500 {
		id := uuid.NewString()
		want[id] = at
		u.Used(strings.ToUpper(id), at) // any spelling of a uuid; flushed canonical
	}
	want["not-a-uuid"] = at
	u.Used("not-a-uuid", at)
	if err := u.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for i, b := range to.calls() {
		if len(b) > 1000 {
			t.Fatalf("call %d wrote %d keys, more than 1000", i, len(b))
		}
		maps.Copy(got, b)
	}
	if n := len(to.calls()); n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}
	sameBatch(t, "all chunks", got, want)

	to = newToucher(0)
	u = cache.NewUsage(to, quietLog())
	for id := range want {
		u.Used(id, at)
	}
	to.failAt = 2 // the second chunk fails
	if err := u.Flush(context.Background()); !errors.Is(err, errTouch) {
		t.Fatalf("flush err = %v, want %v", err, errTouch)
	}
	if n := len(to.calls()); n != 2 {
		t.Fatalf("%d calls before the failure stopped the flush, want 2", n)
	}
	before := len(to.calls())
	if err := u.Flush(context.Background()); err != nil {
		t.Fatalf("retry: %v", err)
	}
	got = map[string]time.Time{}
	for _, b := range to.calls()[before:] {
		maps.Copy(got, b)
	}
	sameBatch(t, "retried flush", got, want)
}
