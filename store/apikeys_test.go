package store_test

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/store"
)

func newKey(userID, name string, created time.Time) store.APIKey {
	return store.APIKey{
		ID: uuid.NewString(), UserID: userID, Name: name, Prefix: "zk_" + name[:1],
		Digest: sha256.Sum256([]byte(uuid.NewString())), Scopes: []string{"read", "write:keys"},
		CreatedAt: created,
	}
}

// stored is what a store must return for k.
func stored(k store.APIKey) store.APIKey {
	k.CreatedAt = dbTime(k.CreatedAt)
	if k.ExpiresAt != nil {
		k.ExpiresAt = ptr(dbTime(*k.ExpiresAt))
	}
	if k.LastUsedAt != nil {
		k.LastUsedAt = ptr(dbTime(*k.LastUsedAt))
	}
	return k
}

func createKey(t *testing.T, s store.Store, k store.APIKey) store.APIKey {
	t.Helper()
	if err := s.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	return stored(k)
}

func testAPIKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "frank@example.com")

	k1 := newKey(u.ID, "first", now)
	k1.ExpiresAt = ptr(now.Add(24 * time.Hour))
	k1.Scopes = nil
	k1 = createKey(t, s, k1)
	// k2 and k3 tie on created_at: the id breaks the tie.
	k2 := createKey(t, s, newKey(u.ID, "second", now.Add(time.Second)))
	k3 := createKey(t, s, newKey(u.ID, "third", now.Add(time.Second)))

	got, err := s.APIKeyByDigest(ctx, k1.Digest)
	mustIs(t, "APIKeyByDigest", err, nil)
	mustEqual(t, "APIKeyByDigest", got, k1)
	got, err = s.APIKeyByDigest(ctx, k2.Digest)
	mustIs(t, "APIKeyByDigest", err, nil)
	mustEqual(t, "APIKeyByDigest", got, k2)
	_, err = s.APIKeyByDigest(ctx, sha256.Sum256([]byte("unknown")))
	mustIs(t, "APIKeyByDigest unknown", err, store.ErrNotFound)

	want := []store.APIKey{k3, k2, k1}
	if k2.ID > k3.ID {
		want = []store.APIKey{k2, k3, k1}
	}
	list, err := s.ListAPIKeys(ctx, u.ID)
	mustIs(t, "ListAPIKeys", err, nil)
	mustEqual(t, "ListAPIKeys", list, want)

	other := newUser(t, s, "grace@example.com")
	for _, id := range []string{other.ID, uuid.NewString(), "not-a-uuid"} {
		list, err := s.ListAPIKeys(ctx, id)
		if err != nil || len(list) != 0 {
			t.Fatalf("ListAPIKeys(%q) = %v, %v; want none", id, list, err)
		}
	}

	err = s.CreateAPIKey(ctx, newKey(uuid.NewString(), "orphan", now))
	mustIs(t, "CreateAPIKey for unknown user", err, store.ErrNotFound)
	bad := newKey(u.ID, "bad", now)
	bad.Scopes = []string{"a,b"}
	if err := s.CreateAPIKey(ctx, bad); err == nil {
		t.Fatal("CreateAPIKey with a comma in a scope succeeded")
	}
}

func testDeleteAPIKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	owner := newUser(t, s, "heidi@example.com")
	other := newUser(t, s, "ivan@example.com")
	k := createKey(t, s, newKey(owner.ID, "deleteme", now))

	_, err := s.DeleteAPIKey(ctx, other.ID, k.ID)
	mustIs(t, "DeleteAPIKey by non-owner", err, store.ErrNotFound)
	_, err = s.DeleteAPIKey(ctx, owner.ID, uuid.NewString())
	mustIs(t, "DeleteAPIKey unknown id", err, store.ErrNotFound)
	_, err = s.DeleteAPIKey(ctx, owner.ID, "not-a-uuid")
	mustIs(t, "DeleteAPIKey malformed id", err, store.ErrNotFound)
	_, err = s.DeleteAPIKey(ctx, "not-a-uuid", k.ID)
	mustIs(t, "DeleteAPIKey malformed user id", err, store.ErrNotFound)
	if _, err := s.APIKeyByDigest(ctx, k.Digest); err != nil {
		t.Fatalf("key gone after failed deletes: %v", err)
	}

	got, err := s.DeleteAPIKey(ctx, owner.ID, k.ID)
	mustIs(t, "DeleteAPIKey by owner", err, nil)
	mustEqual(t, "DeleteAPIKey by owner", got, k)
	_, err = s.APIKeyByDigest(ctx, k.Digest)
	mustIs(t, "APIKeyByDigest after delete", err, store.ErrNotFound)
	_, err = s.DeleteAPIKey(ctx, owner.ID, k.ID)
	mustIs(t, "DeleteAPIKey twice", err, store.ErrNotFound)
}

func testTouchAPIKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "judy@example.com")
	a := createKey(t, s, newKey(u.ID, "a", now))
	b := createKey(t, s, newKey(u.ID, "b", now))
	c := createKey(t, s, newKey(u.ID, "c", now))

	mustIs(t, "TouchAPIKeys empty", s.TouchAPIKeys(ctx, nil), nil)
	t1 := now.Add(time.Minute)
	err := s.TouchAPIKeys(ctx, map[string]time.Time{
		a.ID: t1, b.ID: t1.Add(time.Second), uuid.NewString(): t1, "not-a-uuid": t1,
	})
	mustIs(t, "TouchAPIKeys", err, nil)
	// An older time, as from a late batch, does not move last use back.
	mustIs(t, "TouchAPIKeys older", s.TouchAPIKeys(ctx, map[string]time.Time{a.ID: now}), nil)

	for _, tc := range []struct {
		key  store.APIKey
		want *time.Time
	}{{a, ptr(dbTime(t1))}, {b, ptr(dbTime(t1.Add(time.Second)))}, {c, nil}} {
		got, err := s.APIKeyByDigest(ctx, tc.key.Digest)
		mustIs(t, "APIKeyByDigest", err, nil)
		mustEqual(t, "LastUsedAt of "+tc.key.Name, got.LastUsedAt, tc.want)
	}

	// A batch of several writes (1 000 keys each), with one key in two
	// spellings: the later time wins.
	big := map[string]time.Time{}
	for range 2500 {
		big[uuid.NewString()] = t1
	}
	t2 := t1.Add(time.Hour)
	big[a.ID] = t2
	big[strings.ToUpper(c.ID)] = t2
	big[c.ID] = t2.Add(-time.Minute)
	mustIs(t, "TouchAPIKeys big batch", s.TouchAPIKeys(ctx, big), nil)
	for _, k := range []store.APIKey{a, c} {
		got, err := s.APIKeyByDigest(ctx, k.Digest)
		mustIs(t, "APIKeyByDigest", err, nil)
		mustEqual(t, "LastUsedAt of "+k.Name+" after the big batch", got.LastUsedAt, ptr(dbTime(t2)))
	}
}
