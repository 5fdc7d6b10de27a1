package store_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

// The subject links run as their own conformance suite against both stores,
// with the same helpers as the rest of the store tests.

func TestSubjectsSQLite(t *testing.T) {
	runSubjects(t, func(t *testing.T) store.Store { return openURL(t, storetest.SQLiteURL(t)) })
	t.Run("Migrations", func(t *testing.T) { testSubjectMigrations(t, storetest.SQLiteURL(t)) })
}

func TestSubjectsPostgres(t *testing.T) {
	first := storetest.PostgresURL(t) // skips (or, in CI, fails) at once if PostgreSQL is down
	runSubjects(t, func(t *testing.T) store.Store { return openURL(t, storetest.PostgresURL(t)) })
	t.Run("Migrations", func(t *testing.T) { testSubjectMigrations(t, first) })
}

func runSubjects(t *testing.T, open func(t *testing.T) store.Store) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"LinkAndLookUp", testLinkSubject},
		{"LinkedAlready", testLinkedAlready},
		{"EmailOfAnotherUser", testLinkEmailTaken},
		{"BadInput", testLinkBadInput},
		{"ConcurrentFirstSight", testConcurrentLink},
		{"ConcurrentFirstSightOtherEmails", testConcurrentLinkOtherEmails},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, open(t))
		})
	}
}

// linked is what LinkSubject must store and return for u, given the id
// the store assigned.
func linked(u store.User, id string) store.User {
	u.ID, u.CreatedAt = id, dbTime(u.CreatedAt)
	return u
}

// mustBeV7 checks that a user the store created has a UUID v7 id, as
// docs/auth-api.md says of every user id, and not the id it was given.
func mustBeV7(t *testing.T, what string, got, given store.User) {
	t.Helper()
	u, err := uuid.Parse(got.ID)
	if err != nil || u.Version() != 7 || u.String() != got.ID {
		t.Fatalf("%s: id %q is not a canonical UUID v7", what, got.ID)
	}
	if got.ID == given.ID {
		t.Fatalf("%s: kept the id it was given (%s) instead of assigning one", what, given.ID)
	}
}

func catalogUser(email string) store.User {
	return store.User{ID: uuid.NewString(), Email: email, Name: ptr("Grace"), CreatedAt: now}
}

func testLinkSubject(t *testing.T, s store.Store) {
	ctx := context.Background()
	in := catalogUser("Grace@Example.com")
	got, err := s.LinkSubject(ctx, "https://catalog.example", "sub-1", in)
	mustIs(t, "LinkSubject", err, nil)
	mustBeV7(t, "LinkSubject", got, in)
	want := linked(in, got.ID)
	want.Email = "grace@example.com"
	mustEqual(t, "LinkSubject", got, want)

	got, err = s.UserBySubject(ctx, "https://catalog.example", "sub-1")
	mustIs(t, "UserBySubject", err, nil)
	mustEqual(t, "UserBySubject", got, want)
	got, err = s.UserByID(ctx, want.ID)
	mustIs(t, "UserByID", err, nil)
	mustEqual(t, "UserByID", got, want)
	got, err = s.UserByEmail(ctx, "grace@example.com")
	mustIs(t, "UserByEmail", err, nil)
	mustEqual(t, "UserByEmail", got, want)

	// Issuer and subject are matched exactly, both parts.
	for _, c := range []struct{ iss, sub string }{
		{"https://catalog.example", "SUB-1"},
		{"https://catalog.example", "sub-2"},
		{"https://other.example", "sub-1"},
		{"", "sub-1"},
	} {
		_, err := s.UserBySubject(ctx, c.iss, c.sub)
		mustIs(t, fmt.Sprintf("UserBySubject(%q, %q)", c.iss, c.sub), err, store.ErrNotFound)
	}

	// The same subject at another issuer is another identity, and an empty
	// issuer is an issuer like any other.
	otherIn, noIssIn := catalogUser("grace@other.example"), catalogUser("grace@no-issuer.example")
	other, err := s.LinkSubject(ctx, "https://other.example", "sub-1", otherIn)
	mustIs(t, "LinkSubject other issuer", err, nil)
	mustBeV7(t, "LinkSubject other issuer", other, otherIn)
	noIss, err := s.LinkSubject(ctx, "", "sub-1", noIssIn)
	mustIs(t, "LinkSubject empty issuer", err, nil)
	mustBeV7(t, "LinkSubject empty issuer", noIss, noIssIn)
	if ids := []string{want.ID, other.ID, noIss.ID}; len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 3 {
		t.Fatalf("three identities share users: %v", ids)
	}

	// The linked user's status is the user's: disabling shows through.
	_, err = s.SetDisabled(ctx, "grace@example.com", true)
	mustIs(t, "SetDisabled", err, nil)
	got, err = s.UserBySubject(ctx, "https://catalog.example", "sub-1")
	mustIs(t, "UserBySubject disabled", err, nil)
	if !got.Disabled {
		t.Fatal("UserBySubject does not show the user disabled")
	}
}

func testLinkedAlready(t *testing.T, s store.Store) {
	ctx := context.Background()
	first, err := s.LinkSubject(ctx, "iss", "heidi", catalogUser("heidi@example.com"))
	mustIs(t, "first LinkSubject", err, nil)

	// A later sight with another email (the catalog account changed it)
	// returns the linked user and creates nobody.
	again := catalogUser("heidi@new.example")
	got, err := s.LinkSubject(ctx, "iss", "heidi", again)
	mustIs(t, "second LinkSubject", err, nil)
	mustEqual(t, "second LinkSubject", got, first)
	_, err = s.UserByID(ctx, again.ID)
	mustIs(t, "UserByID of the second user", err, store.ErrNotFound)
	_, err = s.UserByEmail(ctx, "heidi@new.example")
	mustIs(t, "UserByEmail of the second email", err, store.ErrNotFound)

	// And with the same email.
	got, err = s.LinkSubject(ctx, "iss", "heidi", catalogUser("HEIDI@example.com"))
	mustIs(t, "third LinkSubject", err, nil)
	mustEqual(t, "third LinkSubject", got, first)
}

func testLinkEmailTaken(t *testing.T, s store.Store) {
	ctx := context.Background()
	local := newUser(t, s, "ivan@example.com")

	// An email is never a reason to link: the local account stays unlinked
	// and the identity gets no user.
	in := catalogUser("IVAN@example.com")
	_, err := s.LinkSubject(ctx, "iss", "ivan", in)
	mustIs(t, "LinkSubject with a local user's email", err, store.ErrEmailExists)
	_, err = s.UserBySubject(ctx, "iss", "ivan")
	mustIs(t, "UserBySubject after refusal", err, store.ErrNotFound)
	_, err = s.UserByID(ctx, in.ID)
	mustIs(t, "UserByID after refusal", err, store.ErrNotFound)
	got, err := s.UserByEmail(ctx, "ivan@example.com")
	mustIs(t, "UserByEmail", err, nil)
	mustEqual(t, "local user", got, local)

	// Nor an email of a user linked to another identity.
	_, err = s.LinkSubject(ctx, "iss", "judy", catalogUser("judy@example.com"))
	mustIs(t, "LinkSubject judy", err, nil)
	_, err = s.LinkSubject(ctx, "iss", "judy-2", catalogUser("judy@example.com"))
	mustIs(t, "LinkSubject with a linked user's email", err, store.ErrEmailExists)
	_, err = s.UserBySubject(ctx, "iss", "judy-2")
	mustIs(t, "UserBySubject judy-2", err, store.ErrNotFound)
}

func testLinkBadInput(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.LinkSubject(ctx, "iss", "", catalogUser("mallory@example.com")); err == nil {
		t.Fatal("LinkSubject with an empty subject succeeded")
	}
	_, err := s.UserBySubject(ctx, "iss", "mallory")
	mustIs(t, "UserBySubject after failures", err, store.ErrNotFound)
	_, err = s.UserByEmail(ctx, "mallory@example.com")
	mustIs(t, "UserByEmail after failures", err, store.ErrNotFound)
}

// linkConcurrently links one identity from n goroutines, the i-th with
// email(i), and checks that every call returned the same user.
func linkConcurrently(t *testing.T, s store.Store, n int, email func(i int) string) store.User {
	t.Helper()
	users := make([]store.User, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			users[i], errs[i] = s.LinkSubject(context.Background(), "iss", "oscar", catalogUser(email(i)))
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("concurrent LinkSubject %d: %v", i, errs[i])
		}
		if !reflect.DeepEqual(users[i], users[0]) {
			t.Fatalf("concurrent LinkSubject %d returned %+v, another returned %+v", i, users[i], users[0])
		}
	}
	got, err := s.UserBySubject(context.Background(), "iss", "oscar")
	mustIs(t, "UserBySubject", err, nil)
	mustEqual(t, "UserBySubject after the race", got, users[0])
	mustBeV7(t, "concurrent LinkSubject", got, store.User{})
	return got
}

func testConcurrentLink(t *testing.T, s store.Store) {
	linkConcurrently(t, s, 20, func(int) string { return "oscar@example.com" })
}

func testConcurrentLinkOtherEmails(t *testing.T, s store.Store) {
	u := linkConcurrently(t, s, 20, func(i int) string { return fmt.Sprintf("oscar%d@example.com", i) })
	// The losers' users are gone with their transactions.
	for i := range 20 {
		email := fmt.Sprintf("oscar%d@example.com", i)
		if email == u.Email {
			continue
		}
		_, err := s.UserByEmail(context.Background(), email)
		mustIs(t, "UserByEmail of a losing racer", err, store.ErrNotFound)
	}
}

// testSubjectMigrations checks that 002_subjects applies after 001_init and
// is idempotent like the rest.
func testSubjectMigrations(t *testing.T, url string) {
	ctx := context.Background()
	applied, err := store.Migrate(ctx, url)
	if err != nil || slices.Index(applied, "002_subjects") != slices.Index(applied, "001_init")+1 || slices.Index(applied, "001_init") < 0 {
		t.Fatalf("Migrate = %v, %v; want 002_subjects applied right after 001_init", applied, err)
	}
	applied, err = store.Migrate(ctx, url)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Migrate = %v, %v; want none", applied, err)
	}
}
