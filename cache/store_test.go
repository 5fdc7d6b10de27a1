package cache_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/store"
)

// Compile-time: the cache stands in for the store and the directory.
var (
	_ store.Store     = (*cache.Store)(nil)
	_ authn.Directory = (*cache.Store)(nil)
)

// Lookups through the cache answer what the store answers, minus the
// password hash and last use, cold and warm alike.
func TestLookups(t *testing.T) { testLookups(t, cache.Options{}) }

func testLookups(t *testing.T, opt cache.Options) {
	st := sqliteStore(t)
	c := openCache(t, st, opt)
	ctx := context.Background()
	u, k := seed(t, st)
	wantUser := u
	wantUser.PasswordHash = ""

	// cold; with Redis, filled but not yet tracked; then warm.
	for _, pass := range []string{"cold", "filled", "warm"} {
		tests := []struct {
			name    string
			do      func() (any, error)
			want    any
			wantErr error
		}{
			{"key", func() (any, error) { return c.APIKeyByDigest(ctx, k.Digest) }, cachedView(k), nil},
			{"unknown key", func() (any, error) { return c.APIKeyByDigest(ctx, unknownDigest()) }, store.APIKey{}, store.ErrNotFound},
			{"user", func() (any, error) { return c.UserByID(ctx, u.ID) }, wantUser, nil},
			{"user by upper-case id", func() (any, error) { return c.UserByID(ctx, strings.ToUpper(u.ID)) }, wantUser, nil},
			{"unknown user", func() (any, error) { return c.UserByID(ctx, "7e0b8a44-8a4e-4c6c-9a0e-3f1e0f0c0a11") }, store.User{}, store.ErrNotFound},
			{"malformed user id", func() (any, error) { return c.UserByID(ctx, "not-a-uuid") }, store.User{}, store.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(pass+"/"+tt.name, func(t *testing.T) {
				got, err := tt.do()
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got  %+v\nwant %+v", got, tt.want)
				}
			})
		}
	}
}

// Repeated lookups of one unknown digest reach the store once.
func TestNegativeCachingLocal(t *testing.T) {
	cs := &countingStore{Store: sqliteStore(t)}
	c := openCache(t, cs, cache.Options{FallbackTTL: time.Minute})
	d := unknownDigest()
	for range 1000 {
		if _, err := c.APIKeyByDigest(context.Background(), d); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	}
	if n := cs.keys.Load(); n != 1 {
		t.Fatalf("store saw %d lookups of one unknown digest, want 1", n)
	}
}

// Concurrent misses of one key are one store read.
func TestSingleflightLocal(t *testing.T) {
	testSingleflight(t, cache.Options{})
}

func testSingleflight(t *testing.T, opt cache.Options) {
	base := sqliteStore(t)
	_, k := seed(t, base)
	release := make(chan struct{})
	cs := &countingStore{Store: base, gate: func() { <-release }}
	c := openCache(t, cs, opt)

	const n = 100
	var started, done sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		started.Add(1)
		done.Go(func() {
			started.Done()
			got, err := c.APIKeyByDigest(context.Background(), k.Digest)
			if err == nil && got.ID != k.ID {
				err = errors.New("wrong key " + got.ID)
			}
			errs <- err
		})
	}
	started.Wait()
	// Let the goroutines reach the lookup; any that come after the read
	// finishes are answered from a cache tier, not the store, either way.
	time.Sleep(50 * time.Millisecond)
	close(release)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := cs.keys.Load(); got != 1 {
		t.Fatalf("%d concurrent misses made %d store reads, want 1", n, got)
	}
}

// Writes through the cache are visible to the next lookup at once.
func TestWritesEvictLocal(t *testing.T) {
	st := sqliteStore(t)
	c := openCache(t, st, cache.Options{FallbackTTL: time.Hour})
	testOwnWrites(t, c, st)
}

// testOwnWrites checks read-your-writes through c for every write it covers.
func testOwnWrites(t *testing.T, c *cache.Store, st store.Store) {
	t.Helper()
	ctx := context.Background()
	u, k := seed(t, st)

	// Warm everything first (twice: with Redis the first read fills it).
	for range 2 {
		if _, err := c.APIKeyByDigest(ctx, k.Digest); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UserByID(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteAPIKey(ctx, u.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.APIKeyByDigest(ctx, k.Digest); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("lookup right after DeleteAPIKey: %v, want ErrNotFound", err)
	}

	if _, err := c.SetDisabled(ctx, u.Email, true); err != nil {
		t.Fatal(err)
	}
	if got, err := c.UserByID(ctx, u.ID); err != nil || !got.Disabled {
		t.Fatalf("lookup right after SetDisabled: disabled=%v, %v", got.Disabled, err)
	}
	if _, err := c.SetAdmin(ctx, u.Email, true); err != nil {
		t.Fatal(err)
	}
	if got, err := c.UserByID(ctx, u.ID); err != nil || !got.IsAdmin || got.PasswordHash != "" {
		t.Fatalf("lookup right after SetAdmin: admin=%v hash=%q, %v", got.IsAdmin, got.PasswordHash, err)
	}

	// A key looked up (negatively cached) before it exists.
	k2 := newKey(u.ID)
	for range 2 {
		if _, err := c.APIKeyByDigest(ctx, k2.Digest); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("lookup before CreateAPIKey: %v", err)
		}
	}
	if err := c.CreateAPIKey(ctx, k2); err != nil {
		t.Fatal(err)
	}
	if got, err := c.APIKeyByDigest(ctx, k2.Digest); err != nil || got.ID != k2.ID {
		t.Fatalf("lookup right after CreateAPIKey: %+v, %v", got, err)
	}

	// The CLI flow's key, also negatively cached before.
	k3 := newKey(u.ID)
	code := unknownDigest()
	if err := st.CreateCLISession(ctx, store.CLISession{
		CodeDigest: code, DeviceName: "laptop", ExpiresAt: time.Now().Add(time.Hour), CreatedAt: time.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.APIKeyByDigest(ctx, k3.Digest); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("lookup before CompleteCLISession: %v", err)
	}
	if err := c.CompleteCLISession(ctx, code, time.Now(), k3, []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.APIKeyByDigest(ctx, k3.Digest); err != nil || got.ID != k3.ID {
		t.Fatalf("lookup right after CompleteCLISession: %+v, %v", got, err)
	}
}

// Without Redis, a SQLite store tells the cache of changes made by another
// handle on the same file (as the admin command's process would).
func TestSQLiteChangeWatch(t *testing.T) {
	url := "sqlite://" + t.TempDir() + "/zectre-auth.db"
	st := openStore(t, url)
	other := openStore(t, url)
	c := openCache(t, st, cache.Options{})
	runCache(t, c)
	ctx := context.Background()
	u, k := seed(t, st)

	// Let the watch start, then warm.
	time.Sleep(2 * cache.DefaultWatchInterval)
	for range 2 {
		if _, err := c.UserByID(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.APIKeyByDigest(ctx, k.Digest); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := other.SetDisabled(ctx, u.Email, true); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, "disable by another handle", 10*time.Second, func() bool {
		got, err := c.UserByID(ctx, u.ID)
		return err == nil && got.Disabled
	})
	t.Logf("a change by another handle reached the cache after %v", took)
	if took > 200*time.Millisecond {
		t.Errorf("a change by another handle took %v, want within ~200ms", took)
	}

	if _, err := other.DeleteAPIKey(ctx, u.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	took = waitFor(t, "key deletion by another handle", 10*time.Second, func() bool {
		_, err := c.APIKeyByDigest(ctx, k.Digest)
		return errors.Is(err, store.ErrNotFound)
	})
	t.Logf("a key deletion by another handle reached the cache after %v", took)
}

// Without Redis, Counter is in-process and Ping only asks the store.
func TestLocalCounterAndPing(t *testing.T) {
	c := openCache(t, sqliteStore(t), cache.Options{})
	if _, ok := c.Counter().(*cache.LocalCounter); !ok {
		t.Fatalf("Counter() without Redis is %T, want *cache.LocalCounter", c.Counter())
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
