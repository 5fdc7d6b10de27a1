package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

// A commit through a second handle on the same file is reported; polls with
// no commit in between, and the watched store's own commits, are not.
func TestSQLiteWatchChanges(t *testing.T) {
	url := storetest.SQLiteURL(t)
	ctx := context.Background()
	watched, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer watched.Close()
	other, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	w, ok := watched.(store.ChangeWatcher)
	if !ok {
		t.Fatalf("the sqlite store (%T) is not a store.ChangeWatcher", watched)
	}
	var calls atomic.Int64
	signal := make(chan struct{}, 16)
	watchCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.WatchChanges(watchCtx, 5*time.Millisecond, func() {
			calls.Add(1)
			select {
			case signal <- struct{}{}:
			default:
			}
		})
	}()

	// Starting is a report (what came before went unseen); then many polls
	// and no commit: nothing more to report.
	select {
	case <-signal:
	case <-time.After(10 * time.Second):
		t.Fatal("the start of the watch was not reported")
	}
	time.Sleep(100 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d change reports without any commit, want 1 (the start)", n)
	}

	// The store's own writes are its cache's business: not reported.
	if err := watched.CreateUser(ctx, store.User{ID: uuid.NewString(), Email: "own@example.com", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := watched.SetDisabled(ctx, "own@example.com", true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d change reports after the store's own commits, want 1 (the start)", n)
	}

	for i, change := range []func() error{
		func() error {
			return other.CreateUser(ctx, store.User{ID: uuid.NewString(), Email: "a@example.com", CreatedAt: time.Now()})
		},
		func() error { _, err := other.SetDisabled(ctx, "a@example.com", true); return err },
	} {
		if err := change(); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		select {
		case <-signal:
		case <-time.After(10 * time.Second):
			t.Fatalf("change %d was not reported", i)
		}
	}

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("WatchChanges did not return after cancel")
	}
}

// PostgreSQL has no cheap change signal; it must not pretend to have one.
func TestPostgresIsNoChangeWatcher(t *testing.T) {
	s, err := store.Open(context.Background(), storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(store.ChangeWatcher); ok {
		t.Fatal("the postgres store claims to be a ChangeWatcher")
	}
}
