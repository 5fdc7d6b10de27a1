package authn

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

// TestCatalogLinking runs the first-sight linking against both stores.
func TestCatalogLinking(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testCatalogLinking(t, func(t testing.TB) string { return storetest.SQLiteURL(t) }) })
	t.Run("postgres", func(t *testing.T) {
		storetest.PostgresURL(t) // skips (or, in CI, fails) at once if PostgreSQL is down
		testCatalogLinking(t, func(t testing.TB) string { return storetest.PostgresURL(t) })
	})
}

func testCatalogLinking(t *testing.T, newURL func(testing.TB) string) {
	keyA := rsaKey("a", "rsa-a")
	srv := newJWKSServer(t, keyA)
	ctx := context.Background()

	// setup returns a fresh store and a catalog authenticator over it, with
	// a token cache so that the cached paths are exercised too.
	setup := func(t *testing.T) (store.Store, *CatalogAuthenticator) {
		st := openTestStore(t, newURL(t))
		return st, newCatalog(t, srv.URL, st, func(o *CatalogOptions) { o.Cache = NewTokenCache(0) })
	}

	t.Run("first sight creates and links a user", func(t *testing.T) {
		t.Parallel()
		st, cat := setup(t)
		claims := edited(catClaims("alice"), "email", "  Alice@Example.COM ", "name", " Alice ")
		u, err := cat.Authenticate(ctx, bearer(mint(t, keyA, claims)))
		if err != nil {
			t.Fatal(err)
		}
		if u.Method != MethodCatalogJWT || u.Email != "alice@example.com" || u.Name == nil || *u.Name != "Alice" || u.IsAdmin {
			t.Fatalf("got %+v", u)
		}
		stored, err := st.UserBySubject(ctx, catIssuer, "alice")
		if err != nil || stored.ID != u.ID {
			t.Fatalf("UserBySubject = %+v, %v; want user %s", stored, err, u.ID)
		}
		if stored.PasswordHash != "" {
			t.Fatalf("a linked user got a password hash %q", stored.PasswordHash)
		}
		// Later tokens of the subject, even with another email, are the
		// same user; the stored email stays what it was.
		again, err := cat.Authenticate(ctx, bearer(mint(t, keyA, edited(catClaims("alice"), "email", "alice@new.example"))))
		if err != nil || again.ID != u.ID || again.Email != "alice@example.com" {
			t.Fatalf("second token = %+v, %v; want user %s", again, err, u.ID)
		}
		// The same subject from another issuer is another identity.
		other, err := newCatalog(t, srv.URL, st, func(o *CatalogOptions) { o.Issuer = "https://other.example" }).
			Authenticate(ctx, bearer(mint(t, keyA, edited(catClaims("alice"), "iss", "https://other.example", "email", "alice@other.example"))))
		if err != nil || other.ID == u.ID {
			t.Fatalf("other issuer = %+v, %v; want a different user", other, err)
		}
	})

	t.Run("email of a local account is refused", func(t *testing.T) {
		t.Parallel()
		st, cat := setup(t)
		local := store.User{ID: uuid.NewString(), Email: "bob@example.com", PasswordHash: "$argon2id$x", CreatedAt: time.Now()}
		if err := st.CreateUser(ctx, local); err != nil {
			t.Fatal(err)
		}
		u, err := cat.Authenticate(ctx, bearer(mint(t, keyA, edited(catClaims("bob"), "email", "BOB@example.com"))))
		if !errors.Is(err, ErrSubjectConflict) || errors.Is(err, ErrInvalidToken) {
			t.Fatalf("err = %v, want ErrSubjectConflict alone", err)
		}
		if u.ID != "" {
			t.Fatalf("conflict returned user %+v", u)
		}
		if _, err := st.UserBySubject(ctx, catIssuer, "bob"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UserBySubject after the conflict: %v, want ErrNotFound", err)
		}
		// The local account is untouched and still its own.
		got, err := st.UserByEmail(ctx, "bob@example.com")
		if err != nil || got.ID != local.ID || got.PasswordHash != local.PasswordHash {
			t.Fatalf("local account after the conflict: %+v, %v", got, err)
		}
	})

	t.Run("disabled linked user", func(t *testing.T) {
		t.Parallel()
		st, cat := setup(t)
		tok := mint(t, keyA, catClaims("carol"))
		u, err := cat.Authenticate(ctx, bearer(tok))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetDisabled(ctx, u.Email, true); err != nil {
			t.Fatal(err)
		}
		// The token is cached now: disabling applies to it at once, and to
		// a token never seen before.
		for name, tok := range map[string]string{"cached token": tok, "new token": mint(t, keyA, catClaims("carol"))} {
			if got, err := cat.Authenticate(ctx, bearer(tok)); !errors.Is(err, ErrInvalidToken) || got.ID != "" {
				t.Fatalf("%s of a disabled user: %+v, %v; want ErrInvalidToken", name, got, err)
			}
		}
		if _, err := st.SetDisabled(ctx, u.Email, false); err != nil {
			t.Fatal(err)
		}
		if got, err := cat.Authenticate(ctx, bearer(tok)); err != nil || got.ID != u.ID {
			t.Fatalf("token after enabling again: %+v, %v", got, err)
		}
	})

	t.Run("concurrent first sight converges on one user", func(t *testing.T) {
		t.Parallel()
		st, cat := setup(t)
		const n = 20
		// Distinct tokens, so that no request is a cache hit of another.
		tokens := make([]string, n)
		for i := range tokens {
			tokens[i] = mint(t, keyA, catClaims("dave"))
		}
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				u, err := cat.Authenticate(ctx, bearer(tokens[i]))
				ids[i], errs[i] = u.ID, err
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("request %d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Fatalf("request %d got user %s, request 0 got %s", i, ids[i], ids[0])
			}
		}
		u, err := st.UserByEmail(ctx, "dave@catalog.example")
		if err != nil || u.ID != ids[0] {
			t.Fatalf("UserByEmail = %+v, %v; want %s", u, err, ids[0])
		}
	})
}
