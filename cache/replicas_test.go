package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/cache/cachetest"
	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

// replicas is one PostgreSQL database and one Redis prefix, shared by the
// cache.Stores a test opens over it, each with its own Redis client.
type replicas struct {
	db     store.Store
	url    string
	prefix string
}

func newReplicas(t *testing.T) replicas {
	t.Helper()
	url := cachetest.RedisURL(t)
	return replicas{db: openStore(t, storetest.PostgresURL(t)), url: url, prefix: cachetest.Prefix(t)}
}

// open starts a replica over st (the shared database, maybe wrapped).
func (r replicas) open(t *testing.T, st store.Store) *cache.Store {
	t.Helper()
	return openCache(t, st, cache.Options{RedisURL: r.url, Prefix: r.prefix})
}

// redisClient is a plain client for looking at what the cache wrote.
func redisClient(t *testing.T, url string) rueidis.Client {
	t.Helper()
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func redisValue(t *testing.T, c rueidis.Client, key string) (string, bool) {
	t.Helper()
	v, err := c.Do(context.Background(), c.B().Get().Key(key).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return "", false
	}
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return v, true
}

// warm reads through c until its front tier answers without the store.
func warm(t *testing.T, c *cache.Store, cs *countingStore, u store.User, k store.APIKey) {
	t.Helper()
	ctx := context.Background()
	for range 3 {
		if _, err := c.APIKeyByDigest(ctx, k.Digest); err != nil {
			t.Fatalf("warm key: %v", err)
		}
		if _, err := c.UserByID(ctx, u.ID); err != nil {
			t.Fatalf("warm user: %v", err)
		}
	}
	keys, users := cs.keys.Load(), cs.users.Load()
	for range 100 {
		c.APIKeyByDigest(ctx, k.Digest)
		c.UserByID(ctx, u.ID)
	}
	if cs.keys.Load() != keys || cs.users.Load() != users {
		t.Fatal("warm lookups still reach the store")
	}
}

// Revocation through one replica reaches another by Redis invalidation,
// well before any TTL.
func TestReplicasSeeRevocation(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	u, k := seed(t, r.db)
	csA, csB := &countingStore{Store: r.db}, &countingStore{Store: r.db}
	a, b := r.open(t, csA), r.open(t, csB)
	warm(t, a, csA, u, k)
	warm(t, b, csB, u, k)
	bKeys, bUsers := csB.keys.Load(), csB.users.Load()

	if _, err := a.DeleteAPIKey(ctx, u.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, "key deletion on replica B", 5*time.Second, func() bool {
		_, err := b.APIKeyByDigest(ctx, k.Digest)
		return errors.Is(err, store.ErrNotFound)
	})
	t.Logf("key deletion through A reached B after %v", took)
	if took >= 100*time.Millisecond {
		t.Errorf("key deletion took %v to reach another replica, want < 100ms", took)
	}

	if _, err := a.SetDisabled(ctx, u.Email, true); err != nil {
		t.Fatal(err)
	}
	took = waitFor(t, "disable on replica B", 5*time.Second, func() bool {
		got, err := b.UserByID(ctx, u.ID)
		return err == nil && got.Disabled
	})
	t.Logf("disabling a user through A reached B after %v", took)
	if took >= 100*time.Millisecond {
		t.Errorf("disabling took %v to reach another replica, want < 100ms", took)
	}

	// And back: re-enabling is a change like any other.
	if _, err := a.SetDisabled(ctx, u.Email, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "enable on replica B", 5*time.Second, func() bool {
		got, err := b.UserByID(ctx, u.ID)
		return err == nil && !got.Disabled
	})
	// The changes came through Redis, not from B reading the store.
	if csB.keys.Load() != bKeys || csB.users.Load() != bUsers {
		t.Errorf("replica B read the store to learn of the changes")
	}
}

// A replica that read a key from the store just before another replica
// deleted it must not put it back into Redis afterwards.
func TestFillRaceTombstone(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	u, k := seed(t, r.db)
	inspect := redisClient(t, r.url)
	name := r.prefix + "key:" + hexDigest(k.Digest)

	read, resume := make(chan struct{}), make(chan struct{})
	csB := &countingStore{Store: r.db}
	csB.gate = func() {
		if csB.keys.Load() == 1 { // only B's first read: the racing one
			close(read)
			<-resume
		}
	}
	a, b := r.open(t, r.db), r.open(t, csB)

	type result struct {
		k   store.APIKey
		err error
	}
	got := make(chan result, 1)
	go func() {
		k, err := b.APIKeyByDigest(ctx, k.Digest)
		got <- result{k, err}
	}()
	<-read // B holds the row, Redis holds nothing yet
	if _, err := a.DeleteAPIKey(ctx, u.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	close(resume) // B's SET NX now meets A's tombstone
	res := <-got
	if !errors.Is(res.err, store.ErrNotFound) {
		t.Errorf("racing lookup = %+v, %v; want ErrNotFound (the tombstone wins)", res.k, res.err)
	}
	if v, ok := redisValue(t, inspect, name); !ok || v != "-" {
		t.Fatalf("redis holds %q (present %v) for the deleted key, want the tombstone", v, ok)
	}
	for _, c := range []*cache.Store{a, b} {
		for range 3 {
			if _, err := c.APIKeyByDigest(ctx, k.Digest); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("lookup after the race: %v, want ErrNotFound", err)
			}
		}
	}
}

// Unknown digests are cached negatively in Redis: N lookups on each of two
// replicas cost one store read in all.
func TestNegativeCachingShared(t *testing.T) {
	r := newReplicas(t)
	csA, csB := &countingStore{Store: r.db}, &countingStore{Store: r.db}
	a, b := r.open(t, csA), r.open(t, csB)
	d := unknownDigest()
	for _, c := range []*cache.Store{a, b, a, b} {
		for range 500 {
			if _, err := c.APIKeyByDigest(context.Background(), d); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		}
	}
	na, nb := csA.keys.Load(), csB.keys.Load()
	if na > 1 || nb > 1 || na+nb != 1 {
		t.Fatalf("store reads: replica A %d, B %d; want one in all", na, nb)
	}
}

func TestLookupsRedis(t *testing.T) {
	testLookups(t, cache.Options{RedisURL: cachetest.RedisURL(t), Prefix: cachetest.Prefix(t)})
}

func TestSingleflightRedis(t *testing.T) {
	url := cachetest.RedisURL(t)
	testSingleflight(t, cache.Options{RedisURL: url, Prefix: cachetest.Prefix(t)})
}

func TestWritesVisibleRedis(t *testing.T) {
	r := newReplicas(t)
	testOwnWrites(t, r.open(t, r.db), r.db)
}

// A key created through one replica replaces the negative entry another one
// holds for its digest.
func TestCreateReplacesNegative(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	u, _ := seed(t, r.db)
	a, b := r.open(t, r.db), r.open(t, r.db)
	k := newKey(u.ID)
	for range 3 {
		if _, err := b.APIKeyByDigest(ctx, k.Digest); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("before create: %v", err)
		}
	}
	if err := a.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, "new key on replica B", 5*time.Second, func() bool {
		got, err := b.APIKeyByDigest(ctx, k.Digest)
		return err == nil && got.ID == k.ID
	})
	t.Logf("a new key reached the other replica after %v", took)
}

func TestPingRedis(t *testing.T) {
	r := newReplicas(t)
	if err := r.open(t, r.db).Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// Open fails at once when Redis does not answer at start.
func TestOpenFailsWithoutRedis(t *testing.T) {
	st := sqliteStore(t)
	for _, url := range []string{"redis://127.0.0.1:1", "http://127.0.0.1:6379", "redis://u:secret@[::1", "redis://127.0.0.1:6379?client_cache=0"} {
		c, err := cache.Open(context.Background(), st, cache.Options{RedisURL: url})
		if err == nil {
			c.Close()
			t.Fatalf("Open(%q) succeeded", url)
		}
		t.Logf("Open(%q): %v", url, err)
		if containsSecret(err.Error()) {
			t.Fatalf("Open(%q) error leaks the password: %v", url, err)
		}
	}
}
