package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

// openURL opens (and migrates) a store, closing it when the test ends.
func openURL(t testing.TB, url string) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestSQLite(t *testing.T) {
	newURL := func(t testing.TB) string { return storetest.SQLiteURL(t) }
	runConformance(t, func(t *testing.T) store.Store { return openURL(t, newURL(t)) })
	runMigrations(t, newURL)
}

func TestPostgres(t *testing.T) {
	// Skips (or, in CI, fails) the whole test at once if PostgreSQL is down.
	first := storetest.PostgresURL(t)
	newURL := func(t testing.TB) string { return storetest.PostgresURL(t) }
	runConformance(t, func(t *testing.T) store.Store { return openURL(t, newURL(t)) })
	runMigrations(t, newURL)

	t.Run("UnavailableOnClosedPort", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := store.Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
		if err == nil {
			s.Close()
			t.Fatal("Open on a closed port succeeded")
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Open on a closed port: %v, want ErrUnavailable", err)
		}
	})
	t.Run("UnavailableAfterClose", func(t *testing.T) {
		t.Parallel()
		s, err := store.Open(context.Background(), first)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := s.Ping(context.Background()); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Ping after Close: %v, want ErrUnavailable", err)
		}
	})
}

// TestSQLiteFiles checks the files Open creates for a relative path; not
// parallel, as it changes the working directory.
func TestSQLiteFiles(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s := openURL(t, "sqlite://./data/zectre-auth.db")
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		filepath.Join(dir, "data"):                0o700 | os.ModeDir,
		filepath.Join(dir, "data/zectre-auth.db"): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
}

func TestOpenUnknownScheme(t *testing.T) {
	for _, url := range []string{"mysql://root@localhost/db", "./data/zectre-auth.db", "sqlite://:memory:"} {
		if s, err := store.Open(context.Background(), url); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", url)
		}
	}
}

// runMigrations covers what needs a database URL rather than a store.
func runMigrations(t *testing.T, newURL func(testing.TB) string) {
	t.Run("MigrateIdempotent", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		url := newURL(t)
		applied, err := store.Migrate(ctx, url)
		if err != nil || !slices.Equal(applied, []string{"001_init", "002_subjects", "003_tokens_valid_after"}) {
			t.Fatalf("first Migrate = %v, %v; want [001_init 002_subjects 003_tokens_valid_after]", applied, err)
		}
		applied, err = store.Migrate(ctx, url)
		if err != nil || len(applied) != 0 {
			t.Fatalf("second Migrate = %v, %v; want none", applied, err)
		}
		// Two stores open on one database see each other's writes.
		a, b := openURL(t, url), openURL(t, url)
		u := newUser(t, a, "both@example.com")
		if got, err := b.UserByID(ctx, u.ID); err != nil || got.ID != u.ID {
			t.Fatalf("second store UserByID = %v, %v", got, err)
		}
	})
	t.Run("ConcurrentMigrate", func(t *testing.T) {
		t.Parallel()
		url := newURL(t)
		const n = 4
		results := make([][]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { results[i], errs[i] = store.Migrate(context.Background(), url) })
		}
		wg.Wait()
		var total []string
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("concurrent Migrate %d: %v", i, errs[i])
			}
			total = append(total, results[i]...)
		}
		// Each migration is its own transaction, so different callers may
		// apply different ones.
		slices.Sort(total)
		if !slices.Equal(total, []string{"001_init", "002_subjects", "003_tokens_valid_after"}) {
			t.Fatalf("concurrent Migrates applied %v in all, want each migration once", total)
		}
		openURL(t, url)
	})
}

// testRevokeTokens: the revocation time is the start of the second after
// the one asked for, read back by every user query, and never moves back.
func testRevokeTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "rita@example.com")
	if !u.TokensValidAfter.IsZero() {
		t.Fatalf("new user has TokensValidAfter %v", u.TokensValidAfter)
	}
	at := time.Date(2026, 3, 1, 10, 0, 5, 700_000_000, time.UTC)
	got, err := s.RevokeTokens(ctx, "RITA@example.com", at)
	mustIs(t, "RevokeTokens", err, nil)
	u.TokensValidAfter = time.Date(2026, 3, 1, 10, 0, 6, 0, time.UTC)
	mustEqual(t, "RevokeTokens", got, u)
	byID, err := s.UserByID(ctx, u.ID)
	mustIs(t, "UserByID", err, nil)
	mustEqual(t, "UserByID after RevokeTokens", byID, u)
	byEmail, err := s.UserByEmail(ctx, u.Email)
	mustIs(t, "UserByEmail", err, nil)
	mustEqual(t, "UserByEmail after RevokeTokens", byEmail, u)

	got, err = s.RevokeTokens(ctx, u.Email, at.Add(-time.Hour))
	mustIs(t, "RevokeTokens earlier", err, nil)
	mustEqual(t, "RevokeTokens earlier keeps the later time", got, u)

	got, err = s.RevokeTokens(ctx, u.Email, at.Add(time.Minute))
	mustIs(t, "RevokeTokens later", err, nil)
	u.TokensValidAfter = u.TokensValidAfter.Add(time.Minute)
	mustEqual(t, "RevokeTokens later", got, u)

	_, err = s.RevokeTokens(ctx, "nobody@example.com", at)
	mustIs(t, "RevokeTokens unknown", err, store.ErrNotFound)
}

func runConformance(t *testing.T, open func(t *testing.T) store.Store) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"Users", testUsers},
		{"DuplicateEmail", testDuplicateEmail},
		{"ConcurrentSignup", testConcurrentSignup},
		{"UpdateUsers", testUpdateUsers},
		{"RevokeTokens", testRevokeTokens},
		{"APIKeys", testAPIKeys},
		{"DeleteAPIKey", testDeleteAPIKey},
		{"RollAPIKey", testRollAPIKey},
		{"TouchAPIKeys", testTouchAPIKeys},
		{"CLISessionLifecycle", testCLILifecycle},
		{"CLISessionExpired", testCLIExpired},
		{"CLISessionConcurrentComplete", testCLIConcurrentComplete},
		{"CLISessionConcurrentDeliver", testCLIConcurrentDeliver},
		{"DeleteExpiredCLISessions", testDeleteExpiredCLI},
		{"Ping", func(t *testing.T, s store.Store) {
			if err := s.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, open(t))
		})
	}
}

// now has nanoseconds on purpose: the stores must truncate to microseconds.
var now = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// dbTime is what a store must return for t.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func ptr[T any](v T) *T { return &v }

func newUser(t *testing.T, s store.Store, email string) store.User {
	t.Helper()
	u := store.User{ID: uuid.NewString(), Email: email, PasswordHash: "$argon2id$x", CreatedAt: now}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	u.CreatedAt = dbTime(u.CreatedAt)
	return u
}

func mustEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func mustIs(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func testUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	// A local zone and nanoseconds on the way in; UTC microseconds out.
	in := store.User{ID: uuid.NewString(), Email: "alice@example.com", Name: ptr("Alice"),
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", IsAdmin: true,
		CreatedAt: now.In(time.FixedZone("X", 3600))}
	if err := s.CreateUser(ctx, in); err != nil {
		t.Fatal(err)
	}
	want := in
	want.CreatedAt = dbTime(now)

	got, err := s.UserByID(ctx, in.ID)
	mustIs(t, "UserByID", err, nil)
	mustEqual(t, "UserByID", got, want)
	got, err = s.UserByID(ctx, strings.ToUpper(in.ID))
	mustIs(t, "UserByID upper case", err, nil)
	mustEqual(t, "UserByID upper case", got, want)
	got, err = s.UserByEmail(ctx, "ALICE@Example.COM")
	mustIs(t, "UserByEmail other case", err, nil)
	mustEqual(t, "UserByEmail other case", got, want)

	// No name, no password.
	bob := store.User{ID: uuid.NewString(), Email: "bob@example.com", CreatedAt: now}
	if err := s.CreateUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	bob.CreatedAt = dbTime(now)
	got, err = s.UserByEmail(ctx, "bob@example.com")
	mustIs(t, "UserByEmail bob", err, nil)
	mustEqual(t, "UserByEmail bob", got, bob)

	_, err = s.UserByEmail(ctx, "nobody@example.com")
	mustIs(t, "UserByEmail unknown", err, store.ErrNotFound)
	_, err = s.UserByID(ctx, uuid.NewString())
	mustIs(t, "UserByID unknown", err, store.ErrNotFound)
	_, err = s.UserByID(ctx, "x")
	mustIs(t, "UserByID malformed", err, store.ErrNotFound)
}

func testDuplicateEmail(t *testing.T, s store.Store) {
	newUser(t, s, "carol@example.com")
	err := s.CreateUser(context.Background(),
		store.User{ID: uuid.NewString(), Email: "Carol@EXAMPLE.com", CreatedAt: now})
	mustIs(t, "CreateUser duplicate in other case", err, store.ErrEmailExists)
}

func testConcurrentSignup(t *testing.T, s store.Store) {
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		// Vary the case of each letter with the bits of i.
		email := []byte("dave@example.com")
		for j := range email {
			if i>>(j%5)&1 == 1 && email[j] >= 'a' && email[j] <= 'z' {
				email[j] -= 'a' - 'A'
			}
		}
		wg.Go(func() {
			errs[i] = s.CreateUser(context.Background(),
				store.User{ID: uuid.NewString(), Email: string(email), CreatedAt: now})
		})
	}
	wg.Wait()
	var ok, exists int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrEmailExists):
			exists++
		default:
			t.Errorf("concurrent CreateUser: %v", err)
		}
	}
	if ok != 1 || exists != n-1 {
		t.Fatalf("concurrent CreateUser: %d succeeded and %d got ErrEmailExists, want 1 and %d", ok, exists, n-1)
	}
}

func testUpdateUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "erin@example.com")

	got, err := s.SetDisabled(ctx, "ERIN@example.com", true)
	mustIs(t, "SetDisabled", err, nil)
	u.Disabled = true
	mustEqual(t, "SetDisabled", got, u)

	got, err = s.SetAdmin(ctx, "Erin@Example.com", true)
	mustIs(t, "SetAdmin", err, nil)
	u.IsAdmin = true
	mustEqual(t, "SetAdmin", got, u)

	got, err = s.SetDisabled(ctx, "erin@example.com", false)
	mustIs(t, "SetDisabled false", err, nil)
	u.Disabled = false
	mustEqual(t, "SetDisabled false", got, u)

	mustIs(t, "SetPasswordHash", s.SetPasswordHash(ctx, u.ID, "$argon2id$new"), nil)
	u.PasswordHash = "$argon2id$new"
	got, err = s.UserByID(ctx, u.ID)
	mustIs(t, "UserByID", err, nil)
	mustEqual(t, "after SetPasswordHash", got, u)

	_, err = s.SetDisabled(ctx, "nobody@example.com", true)
	mustIs(t, "SetDisabled unknown", err, store.ErrNotFound)
	_, err = s.SetAdmin(ctx, "nobody@example.com", true)
	mustIs(t, "SetAdmin unknown", err, store.ErrNotFound)
	mustIs(t, "SetPasswordHash unknown", s.SetPasswordHash(ctx, uuid.NewString(), "h"), store.ErrNotFound)
	mustIs(t, "SetPasswordHash malformed", s.SetPasswordHash(ctx, "nope", "h"), store.ErrNotFound)
}
