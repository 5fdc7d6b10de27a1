package cache_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

// countingStore counts the lookups that reach the real store beneath it.
// When gate is set, APIKeyByDigest calls it after reading the row and before
// answering, so a test can act in between.
type countingStore struct {
	store.Store
	keys  atomic.Int64
	users atomic.Int64
	gate  func()
}

func (c *countingStore) APIKeyByDigest(ctx context.Context, d [32]byte) (store.APIKey, error) {
	c.keys.Add(1)
	k, err := c.Store.APIKeyByDigest(ctx, d)
	if c.gate != nil {
		c.gate()
	}
	return k, err
}

func (c *countingStore) UserByID(ctx context.Context, id string) (store.User, error) {
	c.users.Add(1)
	return c.Store.UserByID(ctx, id)
}

func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// openStore opens (and migrates) a store at url, closed when the test ends.
func openStore(t testing.TB, url string) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sqliteStore(t testing.TB) store.Store { return openStore(t, storetest.SQLiteURL(t)) }

// openCache wraps st, closed when the test ends.
func openCache(t testing.TB, st store.Store, opt cache.Options) *cache.Store {
	t.Helper()
	if opt.Log == nil {
		opt.Log = testLog(t)
	}
	c, err := cache.Open(context.Background(), st, opt)
	if err != nil {
		t.Fatalf("cache.Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runCache runs c's background work until the test ends.
func runCache(t testing.TB, c *cache.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

var seq atomic.Int64

// seed creates a user with one API key directly in st (not through a cache).
func seed(t testing.TB, st store.Store) (store.User, store.APIKey) {
	t.Helper()
	ctx := context.Background()
	n := seq.Add(1)
	u := store.User{
		ID: uuid.NewString(), Email: "user" + uuid.NewString()[:8] + "@example.com",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		CreatedAt:    time.Now().UTC().Truncate(time.Microsecond),
	}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	k := newKey(u.ID)
	if err := st.CreateAPIKey(ctx, k); err != nil {
		t.Fatalf("CreateAPIKey %d: %v", n, err)
	}
	return u, k
}

func newKey(userID string) store.APIKey {
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	return store.APIKey{
		ID: uuid.NewString(), UserID: userID, Name: "test", Prefix: "zec_abcd",
		Digest: sha256.Sum256([]byte(uuid.NewString())), Scopes: []string{"apps:read", "apps:write"},
		ExpiresAt: &exp, CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
	}
}

// cachedView is what the cache answers for k: the fields a credential
// check reads.
func cachedView(k store.APIKey) store.APIKey {
	return store.APIKey{ID: k.ID, UserID: k.UserID, Scopes: k.Scopes, ExpiresAt: k.ExpiresAt}
}

func unknownDigest() [32]byte { return sha256.Sum256([]byte("unknown " + uuid.NewString())) }

// waitFor polls cond until it holds and returns how long that took; it fails
// the test after limit. Used to measure propagation, not to pace the test.
func waitFor(t testing.TB, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return time.Since(start)
}

func hexDigest(d [32]byte) string { return hex.EncodeToString(d[:]) }

func containsSecret(s string) bool { return strings.Contains(s, "secret") }
