package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/store"
)

func newSession(t *testing.T, s store.Store, expires time.Time) store.CLISession {
	t.Helper()
	cs := store.CLISession{
		CodeDigest: sha256.Sum256([]byte(uuid.NewString())), DeviceName: "laptop",
		Status: store.CLIPending, ExpiresAt: expires, CreatedAt: now,
	}
	if err := s.CreateCLISession(context.Background(), cs); err != nil {
		t.Fatalf("CreateCLISession: %v", err)
	}
	cs.ExpiresAt, cs.CreatedAt = dbTime(expires), dbTime(now)
	return cs
}

func testCLILifecycle(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "kim@example.com")
	cs := newSession(t, s, now.Add(10*time.Minute))

	got, err := s.CLISessionByDigest(ctx, cs.CodeDigest)
	mustIs(t, "CLISessionByDigest", err, nil)
	mustEqual(t, "CLISessionByDigest pending", got, cs)
	_, err = s.DeliverCLISession(ctx, cs.CodeDigest)
	mustIs(t, "DeliverCLISession pending", err, store.ErrSessionUsed)

	key := newKey(u.ID, "cli", now)
	sealed := []byte("sealed key bytes")
	mustIs(t, "CompleteCLISession", s.CompleteCLISession(ctx, cs.CodeDigest, now, key, sealed), nil)
	gotKey, err := s.APIKeyByDigest(ctx, key.Digest)
	mustIs(t, "APIKeyByDigest of completion key", err, nil)
	mustEqual(t, "completion key", gotKey, stored(key))

	completed := cs
	completed.Status, completed.UserID, completed.SealedKey = store.CLICompleted, u.ID, sealed
	got, err = s.CLISessionByDigest(ctx, cs.CodeDigest)
	mustIs(t, "CLISessionByDigest", err, nil)
	mustEqual(t, "CLISessionByDigest completed", got, completed)

	again := newKey(u.ID, "again", now)
	err = s.CompleteCLISession(ctx, cs.CodeDigest, now, again, sealed)
	mustIs(t, "CompleteCLISession twice", err, store.ErrSessionUsed)
	_, err = s.APIKeyByDigest(ctx, again.Digest)
	mustIs(t, "key of a refused completion", err, store.ErrNotFound)

	got, err = s.DeliverCLISession(ctx, cs.CodeDigest)
	mustIs(t, "DeliverCLISession", err, nil)
	delivered := completed
	delivered.Status = store.CLIDelivered
	mustEqual(t, "DeliverCLISession", got, delivered)

	delivered.SealedKey = nil
	got, err = s.CLISessionByDigest(ctx, cs.CodeDigest)
	mustIs(t, "CLISessionByDigest", err, nil)
	mustEqual(t, "CLISessionByDigest delivered", got, delivered)
	_, err = s.DeliverCLISession(ctx, cs.CodeDigest)
	mustIs(t, "DeliverCLISession twice", err, store.ErrSessionUsed)
	err = s.CompleteCLISession(ctx, cs.CodeDigest, now, newKey(u.ID, "late", now), sealed)
	mustIs(t, "CompleteCLISession delivered", err, store.ErrSessionUsed)

	unknown := sha256.Sum256([]byte("unknown"))
	_, err = s.CLISessionByDigest(ctx, unknown)
	mustIs(t, "CLISessionByDigest unknown", err, store.ErrNotFound)
	err = s.CompleteCLISession(ctx, unknown, now, newKey(u.ID, "x", now), sealed)
	mustIs(t, "CompleteCLISession unknown", err, store.ErrNotFound)
	_, err = s.DeliverCLISession(ctx, unknown)
	mustIs(t, "DeliverCLISession unknown", err, store.ErrNotFound)
}

func testCLIExpired(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "leo@example.com")
	for _, expires := range []time.Time{now.Add(-time.Second), now} { // expires_at <= now is expired
		cs := newSession(t, s, expires)
		key := newKey(u.ID, "expired", now)
		err := s.CompleteCLISession(ctx, cs.CodeDigest, now, key, []byte("sealed"))
		mustIs(t, "CompleteCLISession expired", err, store.ErrSessionExpired)
		_, err = s.APIKeyByDigest(ctx, key.Digest)
		mustIs(t, "key of an expired completion", err, store.ErrNotFound)
		got, err := s.CLISessionByDigest(ctx, cs.CodeDigest)
		mustIs(t, "CLISessionByDigest", err, nil)
		mustEqual(t, "expired session unchanged", got, cs)
	}
}

func testCLIConcurrentComplete(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "mallory@example.com")
	cs := newSession(t, s, now.Add(time.Minute))
	const n = 10
	keys := make([]store.APIKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		keys[i] = newKey(u.ID, "racer", now)
		wg.Go(func() { errs[i] = s.CompleteCLISession(ctx, cs.CodeDigest, now, keys[i], []byte{byte(i)}) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Fatalf("CompleteCLISession: callers %d and %d both won", winner, i)
		case !errors.Is(err, store.ErrSessionUsed):
			t.Fatalf("CompleteCLISession loser: %v, want ErrSessionUsed", err)
		}
	}
	if winner < 0 {
		t.Fatal("CompleteCLISession: nobody won")
	}
	list, err := s.ListAPIKeys(ctx, u.ID)
	if err != nil || len(list) != 1 || list[0].ID != keys[winner].ID {
		t.Fatalf("keys after concurrent completes = %v, %v; want only the winner's", list, err)
	}
	got, err := s.CLISessionByDigest(ctx, cs.CodeDigest)
	if err != nil || string(got.SealedKey) != string([]byte{byte(winner)}) {
		t.Fatalf("session after concurrent completes = %+v, %v; want the winner's sealed key", got, err)
	}
}

func testCLIConcurrentDeliver(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "niaj@example.com")
	cs := newSession(t, s, now.Add(time.Minute))
	sealed := []byte("the one sealed key")
	mustIs(t, "CompleteCLISession", s.CompleteCLISession(ctx, cs.CodeDigest, now, newKey(u.ID, "k", now), sealed), nil)

	const n = 10
	got := make([]store.CLISession, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = s.DeliverCLISession(ctx, cs.CodeDigest) })
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
			if string(got[i].SealedKey) != string(sealed) || got[i].Status != store.CLIDelivered {
				t.Errorf("DeliverCLISession winner got %+v", got[i])
			}
		case !errors.Is(err, store.ErrSessionUsed):
			t.Errorf("DeliverCLISession loser: %v, want ErrSessionUsed", err)
		}
	}
	if winners != 1 {
		t.Fatalf("DeliverCLISession: %d callers got the sealed key, want 1", winners)
	}
}

func testDeleteExpiredCLI(t *testing.T, s store.Store) {
	ctx := context.Background()
	old := newSession(t, s, now.Add(-time.Hour))
	atCutoff := newSession(t, s, now)
	fresh := newSession(t, s, now.Add(time.Hour))

	n, err := s.DeleteExpiredCLISessions(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpiredCLISessions = %d, %v; want 1", n, err)
	}
	_, err = s.CLISessionByDigest(ctx, old.CodeDigest)
	mustIs(t, "expired session", err, store.ErrNotFound)
	for _, cs := range []store.CLISession{atCutoff, fresh} {
		if _, err := s.CLISessionByDigest(ctx, cs.CodeDigest); err != nil {
			t.Fatalf("session expiring at %v was deleted: %v", cs.ExpiresAt, err)
		}
	}
}
