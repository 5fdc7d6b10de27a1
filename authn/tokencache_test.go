package authn

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

func TestTokenCache(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	c := NewTokenCache(0)
	c.now = func() time.Time { return now }
	exp := now.Add(time.Hour)
	c.put("tok", MethodJWT, "user-1", exp)
	c.put("expired", MethodJWT, "user-2", now)
	c.put("no-exp", MethodJWT, "user-3", time.Time{})

	for _, tc := range []struct {
		name   string
		token  string
		method Method
		at     time.Time
		want   string // "" for a miss
	}{
		{"hit", "tok", MethodJWT, now, "user-1"},
		{"hit just before exp", "tok", MethodJWT, exp.Add(-time.Nanosecond), "user-1"},
		{"miss at exp", "tok", MethodJWT, exp, ""},
		{"miss after exp", "tok", MethodJWT, exp.Add(time.Minute), ""},
		{"other method", "tok", MethodCatalogJWT, now, ""},
		{"other token", "tok2", MethodJWT, now, ""},
		{"prefix of the token", "to", MethodJWT, now, ""},
		{"exp not in the future is not stored", "expired", MethodJWT, now.Add(-time.Hour), ""},
		{"no exp is not stored", "no-exp", MethodJWT, now.Add(-time.Hour), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.now = func() time.Time { return tc.at }
			got, ok := c.get(tc.token, tc.method)
			if ok != (tc.want != "") || got != tc.want {
				t.Fatalf("get = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}

	t.Run("nil cache", func(t *testing.T) {
		var nc *TokenCache
		nc.put("tok", MethodJWT, "user-1", time.Now().Add(time.Hour))
		if _, ok := nc.get("tok", MethodJWT); ok {
			t.Fatal("a nil cache remembered a token")
		}
	})
}

func TestTokenCacheBounded(t *testing.T) {
	const size = 100
	c := NewTokenCache(size)
	exp := time.Now().Add(time.Hour)
	for i := range 10 * size {
		c.put(fmt.Sprint("tok-", i), MethodJWT, "u", exp)
	}
	c.entries.CleanUp()
	if n := c.entries.EstimatedSize(); n > size {
		t.Fatalf("cache holds %d tokens, bound %d", n, size)
	}
}

// TestTokenAuthenticatorCache: own tokens verify once, and the user is
// still loaded on every request.
func TestTokenAuthenticatorCache(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t, storetest.SQLiteURL(t))
	u := store.User{ID: uuid.NewString(), Email: "own@example.com", CreatedAt: time.Now()}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	tk := newTestTokens(t)
	cache := NewTokenCache(0)
	a := TokenAuthenticator{Tokens: tk, Users: st, Cache: cache}
	tok, exp, err := tk.Issue(u.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	got, err := a.Authenticate(ctx, bearer(tok))
	if err != nil || got.ID != u.ID || got.Method != MethodJWT {
		t.Fatalf("first use = %+v, %v", got, err)
	}
	if id, ok := cache.get(tok, MethodJWT); !ok || id != u.ID {
		t.Fatalf("token not cached after verifying: %q, %v", id, ok)
	}
	e, _ := cache.entries.GetIfPresent(tokenKey(tok))
	if !e.exp.Equal(exp) {
		t.Fatalf("cached until %v, want the token's exp %v", e.exp, exp)
	}

	// Disabling applies to the cached token at once.
	if _, err := st.SetDisabled(ctx, u.Email, true); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Authenticate(ctx, bearer(tok)); !errors.Is(err, ErrInvalidToken) || got.ID != "" {
		t.Fatalf("cached token of a disabled user = %+v, %v; want ErrInvalidToken", got, err)
	}

	// A bad token is never cached.
	bad := tok[:len(tok)-2] + "xx"
	if _, err := a.Authenticate(ctx, bearer(bad)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("tampered token: %v, want ErrInvalidToken", err)
	}
	if _, ok := cache.get(bad, MethodJWT); ok {
		t.Fatal("a token that failed verification was cached")
	}

	// An own token is no catalog token, even to a shared cache.
	if _, ok := cache.get(tok, MethodCatalogJWT); ok {
		t.Fatal("own token served as a catalog token")
	}
}

// TestCatalogCacheSkipsVerification: a cached catalog token is not verified
// again, so it outlives the removal of its key from the JWKS until its exp,
// while tokens not seen before are refused at once. This is the trade the
// cache makes; it is tested so that it stays a known one.
func TestCatalogCacheSkipsVerification(t *testing.T) {
	keyA, keyB := rsaKey("a", "rsa-a"), rsaKey("b", "rsa-b")
	srv := newJWKSServer(t, keyA)
	cache := NewTokenCache(0)
	a := newCatalog(t, srv.URL, newMemDirectory(), func(o *CatalogOptions) { o.Cache = cache })
	seen := mint(t, keyA, catClaims("cached"))
	u, err := a.Authenticate(context.Background(), bearer(seen))
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := cache.get(seen, MethodCatalogJWT); !ok || id != u.ID {
		t.Fatalf("catalog token not cached: %q, %v", id, ok)
	}

	srv.serve(t, keyB) // key a removed, fetched with the next unknown kid
	if err := resolveCat(a, mint(t, keyB, catClaims("cached"))); err != nil {
		t.Fatal(err)
	}
	if err := resolveCat(a, mint(t, keyA, catClaims("cached"))); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("new token of the removed key: %v, want ErrInvalidToken", err)
	}
	if got, err := a.Authenticate(context.Background(), bearer(seen)); err != nil || got.ID != u.ID {
		t.Fatalf("cached token = %+v, %v; want user %s", got, err, u.ID)
	}
}

// TestCachedTokensAuthenticator: the cache's own authenticator answers for
// a token that verified before, by its original method, and checks the
// user's status every time; it is not responsible for anything else.
func TestCachedTokensAuthenticator(t *testing.T) {
	users := newMemDirectory()
	users.users["u1"] = store.User{ID: "u1", Email: "a@example.com"}
	c := NewTokenCache(16)
	a := c.Authenticator(users)
	bearer := func(tok string) Credentials { return Credentials{Authorization: "Bearer " + tok} }

	if _, err := a.Authenticate(context.Background(), bearer("eyJ.unseen.x")); !errors.Is(err, ErrNotResponsible) {
		t.Fatalf("unseen token: %v", err)
	}
	if _, err := a.Authenticate(context.Background(), Credentials{APIKey: "zec_x"}); !errors.Is(err, ErrNotResponsible) {
		t.Fatalf("api key: %v", err)
	}
	c.put("eyJ.seen.x", MethodCatalogJWT, "u1", time.Now().Add(time.Hour))
	u, err := a.Authenticate(context.Background(), bearer("eyJ.seen.x"))
	if err != nil || u.ID != "u1" || u.Method != MethodCatalogJWT || !u.HasScope("anything") {
		t.Fatalf("seen token: %+v %v", u, err)
	}
	users.users["u1"] = store.User{ID: "u1", Disabled: true}
	if _, err := a.Authenticate(context.Background(), bearer("eyJ.seen.x")); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("disabled user's cached token: %v", err)
	}
	c.put("eyJ.short.x", MethodJWT, "u1", time.Now().Add(-time.Second))
	if _, err := a.Authenticate(context.Background(), bearer("eyJ.short.x")); !errors.Is(err, ErrNotResponsible) {
		t.Fatalf("expired token: %v", err)
	}
}
