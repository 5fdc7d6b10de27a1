package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

// TestPostgresServerStopped stops a PostgreSQL server under an open store
// whose pool holds idle connections: every call then fails with
// ErrUnavailable (which the service answers 503), whether it meets a
// connection the server ended or a refused new one, and the same store works
// again once the server is back, without being reopened.
func TestPostgresServerStopped(t *testing.T) {
	url, stop, restart := storetest.StartPostgres(t)
	s := openURL(t, url)
	ctx := context.Background()
	u := newUser(t, s, "outage@example.com")

	// Several connections in the pool, each to be ended by the shutdown.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := s.UserByID(ctx, u.ID); err != nil {
				t.Errorf("UserByID: %v", err)
			}
		})
	}
	wg.Wait()

	stop()
	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"Ping", s.Ping},
		{"UserByID", func(ctx context.Context) error { _, err := s.UserByID(ctx, u.ID); return err }},
		{"UserByEmail", func(ctx context.Context) error { _, err := s.UserByEmail(ctx, u.Email); return err }},
		{"APIKeyByDigest", func(ctx context.Context) error { _, err := s.APIKeyByDigest(ctx, [32]byte{1}); return err }},
		{"CreateUser", func(ctx context.Context) error {
			return s.CreateUser(ctx, store.User{ID: uuid.NewString(), Email: uuid.NewString() + "@example.com", CreatedAt: now})
		}},
		{"CreateAPIKey", func(ctx context.Context) error {
			return s.CreateAPIKey(ctx, store.APIKey{ID: uuid.NewString(), UserID: u.ID, Name: "k", Prefix: "zec_abcd",
				Digest: [32]byte{2}, Scopes: []string{"*"}, CreatedAt: now})
		}},
		{"ListAPIKeys", func(ctx context.Context) error { _, err := s.ListAPIKeys(ctx, u.ID); return err }},
		{"TouchAPIKeys", func(ctx context.Context) error {
			return s.TouchAPIKeys(ctx, map[string]time.Time{uuid.NewString(): now})
		}},
	}
	// Each call twice: the first ones meet the pooled connections the
	// shutdown ended, the later ones dial and are refused.
	for round := range 2 {
		for _, c := range calls {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := c.call(cctx)
			cancel()
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("round %d, %s with the server stopped: %v, want ErrUnavailable", round+1, c.name, err)
			}
		}
	}

	restart()
	// The pool dials again on its own: a generous bound, not a timing.
	deadline := time.Now().Add(30 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("Ping after restart: %v", s.Ping(ctx))
		}
		time.Sleep(20 * time.Millisecond)
	}
	v := newUser(t, s, "after@example.com")
	got, err := s.UserByEmail(ctx, "after@example.com")
	mustEqual(t, "user written after the restart", fmt.Sprint(got.ID, err), fmt.Sprint(v.ID, nil))
	if _, err := s.UserByID(ctx, u.ID); err != nil {
		t.Fatalf("user written before the outage: %v", err)
	}
}
