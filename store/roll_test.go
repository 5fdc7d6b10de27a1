package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/store"
)

// testRollAPIKey: a roll inserts the new key and shortens the old one's
// expiry in one step, never lengthens it, and changes nothing when the key
// is not the caller's or the new key cannot be stored.
func testRollAPIKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	owner := newUser(t, s, "roll@example.com")
	other := newUser(t, s, "roll-other@example.com")
	forever := createKey(t, s, newKey(owner.ID, "forever", now))
	graceEnd := now.Add(time.Hour)
	successor := func(name string) func(store.APIKey) store.APIKey {
		return func(old store.APIKey) store.APIKey {
			k := newKey(old.UserID, name, now.Add(time.Minute))
			k.Scopes = old.Scopes
			return k
		}
	}

	for _, tc := range []struct{ name, userID, keyID string }{
		{"non-owner", other.ID, forever.ID},
		{"unknown id", owner.ID, uuid.NewString()},
		{"malformed id", owner.ID, "not-a-uuid"},
		{"malformed user id", "not-a-uuid", forever.ID},
	} {
		_, _, err := s.RollAPIKey(ctx, tc.userID, tc.keyID, graceEnd, successor("never"))
		mustIs(t, "RollAPIKey "+tc.name, err, store.ErrNotFound)
	}
	// A successor that cannot be stored (its digest is taken) rolls nothing back halfway.
	_, _, err := s.RollAPIKey(ctx, owner.ID, forever.ID, graceEnd, func(old store.APIKey) store.APIKey {
		k := successor("clash")(old)
		k.Digest = old.Digest
		return k
	})
	if err == nil {
		t.Fatal("RollAPIKey with a clashing successor succeeded")
	}
	got, err := s.APIKeyByDigest(ctx, forever.Digest)
	mustIs(t, "APIKeyByDigest after failed rolls", err, nil)
	mustEqual(t, "key after failed rolls", got, forever)
	if keys, _ := s.ListAPIKeys(ctx, owner.ID); len(keys) != 1 {
		t.Fatalf("%d keys after failed rolls, want 1", len(keys))
	}

	old, created, err := s.RollAPIKey(ctx, owner.ID, forever.ID, graceEnd, successor("next"))
	mustIs(t, "RollAPIKey", err, nil)
	want := forever
	want.ExpiresAt = ptr(dbTime(graceEnd))
	mustEqual(t, "rolled old key", old, want)
	got, err = s.APIKeyByDigest(ctx, old.Digest)
	mustIs(t, "APIKeyByDigest old", err, nil)
	mustEqual(t, "stored old key", got, want)
	stillNew, err := s.APIKeyByDigest(ctx, created.Digest)
	mustIs(t, "APIKeyByDigest new", err, nil)
	mustEqual(t, "stored new key", stillNew, created)
	if created.Name != "next" || created.UserID != owner.ID || len(created.Scopes) != len(forever.Scopes) {
		t.Fatalf("new key %+v", created)
	}

	// A second roll with a longer grace leaves the earlier expiry.
	old, _, err = s.RollAPIKey(ctx, owner.ID, forever.ID, graceEnd.Add(time.Hour), successor("later"))
	mustIs(t, "RollAPIKey again", err, nil)
	mustEqual(t, "old key rolled again", old, want)

	// Concurrent rolls of one key each make one new key (forever, next,
	// later, base and the racers' four).
	base := createKey(t, s, newKey(owner.ID, "base", now))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = s.RollAPIKey(ctx, owner.ID, base.ID, graceEnd, successor("racer"))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		mustIs(t, "concurrent RollAPIKey", err, nil)
	}
	keys, _ := s.ListAPIKeys(ctx, owner.ID)
	if len(keys) != 4+len(errs) {
		t.Fatalf("%d keys after %d concurrent rolls, want %d", len(keys), len(errs), 4+len(errs))
	}
}
