package authn_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

// resolverSecret is an HS256 secret of the minimum length.
var resolverSecret = []byte("resolver-test-secret-0123456789a")

// usageLog is a UsageRecorder that remembers every key id it was told of.
type usageLog struct {
	mu  sync.Mutex
	ids []string
}

func (u *usageLog) Used(keyID string, _ time.Time) {
	u.mu.Lock()
	u.ids = append(u.ids, keyID)
	u.mu.Unlock()
}

func (u *usageLog) seen() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.ids)
}

// fixture is a store with users and keys in every state the resolver must
// tell apart, and the credentials that reach them.
type fixture struct {
	store  store.Store
	tokens *authn.Tokens
	now    time.Time

	active, disabled store.User

	activeToken, disabledToken, unknownUserToken, garbageSubjectToken string
	foreignToken                                                      string // signed with another secret

	activeKey, expiredKey, disabledUserKey, revokedKey, unknownKey string
	activeKeyID                                                    string
}

func openStore(t testing.TB, url string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newUser(t testing.TB, st store.Store, email string) store.User {
	t.Helper()
	u := store.User{ID: uuid.NewString(), Email: email, CreatedAt: time.Now().UTC()}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// newKey stores a key for userID and returns the raw key and its id.
func newKey(t testing.TB, st store.Store, userID string, scopes []string, expires *time.Time) (raw, id string) {
	t.Helper()
	nk, err := authn.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k := store.APIKey{
		ID: uuid.NewString(), UserID: userID, Name: "test", Prefix: nk.Prefix,
		Digest: nk.Digest, Scopes: scopes, ExpiresAt: expires, CreatedAt: time.Now().UTC(),
	}
	if err := st.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatalf("create api key: %v", err)
	}
	return nk.Raw, k.ID
}

func newTokens(t testing.TB, secret []byte) *authn.Tokens {
	t.Helper()
	tk, err := authn.NewTokens(secret, authn.DefaultTokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func issue(t testing.TB, tk *authn.Tokens, userID string) string {
	t.Helper()
	tok, _, err := tk.Issue(userID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func newFixture(t *testing.T, url string) *fixture {
	t.Helper()
	ctx := context.Background()
	st := openStore(t, url)
	f := &fixture{store: st, tokens: newTokens(t, resolverSecret), now: time.Now().UTC().Truncate(time.Microsecond)}

	f.active = newUser(t, st, "active@example.com")
	f.disabled = newUser(t, st, "disabled@example.com")

	f.activeToken = issue(t, f.tokens, f.active.ID)
	f.disabledToken = issue(t, f.tokens, f.disabled.ID)
	f.unknownUserToken = issue(t, f.tokens, uuid.NewString())
	f.garbageSubjectToken = issue(t, f.tokens, "not-a-uuid")
	f.foreignToken = issue(t, newTokens(t, []byte("another-secret-0123456789abcdefg")), f.active.ID)

	f.activeKey, f.activeKeyID = newKey(t, st, f.active.ID, []string{"keys:read", "deploy"}, nil)
	past := f.now.Add(-time.Minute)
	f.expiredKey, _ = newKey(t, st, f.active.ID, []string{authn.ScopeAll}, &past)
	f.disabledUserKey, _ = newKey(t, st, f.disabled.ID, []string{authn.ScopeAll}, nil)
	var revokedID string
	f.revokedKey, revokedID = newKey(t, st, f.active.ID, []string{authn.ScopeAll}, nil)
	if _, err := st.DeleteAPIKey(ctx, f.active.ID, revokedID); err != nil {
		t.Fatalf("revoke key: %v", err)
	}
	nk, err := authn.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	f.unknownKey = nk.Raw

	// Disabled only now: a disabled account's key and token were issued
	// while it was active.
	if _, err := st.SetDisabled(ctx, f.disabled.Email, true); err != nil {
		t.Fatalf("disable user: %v", err)
	}
	return f
}

// resolver builds the chain the service uses: tokens first, then keys.
func (f *fixture) resolver(usage authn.UsageRecorder) *authn.Resolver {
	return authn.NewResolver(
		authn.TokenAuthenticator{Tokens: f.tokens, Users: f.store},
		authn.KeyAuthenticator{Keys: f.store, Usage: usage, Now: func() time.Time { return f.now }},
	)
}

func TestResolver(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testResolver(t, storetest.SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { testResolver(t, storetest.PostgresURL(t)) })
}

func testResolver(t *testing.T, url string) {
	f := newFixture(t, url)
	// A key that passes ParseKey's checksum but was never stored is
	// "unknown"; one that fails the checksum is "malformed".
	malformed := f.activeKey[:len(f.activeKey)-1] + flip(f.activeKey[len(f.activeKey)-1])

	type want struct {
		err    error // nil: success
		method authn.Method
		userID string
		keyID  string
		scopes []string
	}
	jwtUser := want{method: authn.MethodJWT, userID: f.active.ID, scopes: []string{authn.ScopeAll}}
	keyUser := want{method: authn.MethodAPIKey, userID: f.active.ID, keyID: f.activeKeyID, scopes: []string{"keys:read", "deploy"}}

	cases := []struct {
		name string
		cred authn.Credentials
		want want
	}{
		{"no credential", authn.Credentials{}, want{err: authn.ErrNoCredential}},
		// An Authorization header is a credential: one nobody can verify
		// is refused, never read as none.
		{"blank bearer", authn.Credentials{Authorization: "Bearer "}, want{err: authn.ErrInvalidToken}},
		{"bare bearer", authn.Credentials{Authorization: "Bearer"}, want{err: authn.ErrInvalidToken}},
		{"bearer comma", authn.Credentials{Authorization: "Bearer,tok"}, want{err: authn.ErrInvalidToken}},
		{"bearer tab", authn.Credentials{Authorization: "Bearer\ttok"}, want{err: authn.ErrInvalidToken}},
		{"bearer two tokens", authn.Credentials{Authorization: "Bearer a b"}, want{err: authn.ErrInvalidToken}},
		{"bearer quoted", authn.Credentials{Authorization: `Bearer "tok"`}, want{err: authn.ErrInvalidToken}},
		{"basic scheme", authn.Credentials{Authorization: "Basic xyz"}, want{err: authn.ErrInvalidToken}},
		{"bearerx scheme", authn.Credentials{Authorization: "BearerX tok"}, want{err: authn.ErrInvalidToken}},
		{"valid token", authn.Credentials{Authorization: "Bearer " + f.activeToken}, jwtUser},
		{"valid token, scheme in lower case", authn.Credentials{Authorization: "bearer " + f.activeToken}, jwtUser},
		{"valid key in X-API-Key", authn.Credentials{APIKey: f.activeKey}, keyUser},
		{"valid key as bearer", authn.Credentials{Authorization: "Bearer " + f.activeKey}, keyUser},
		// The token authenticator is asked first and accepts the token; the
		// key authenticator never sees the bad key.
		{"valid token and bad key", authn.Credentials{Authorization: "Bearer " + f.activeToken, APIKey: "zec_bad"}, jwtUser},
		// And the other way round: a bearer token that is present and bad is
		// final, so a valid X-API-Key next to it does not rescue the request.
		{"bad token and valid key", authn.Credentials{Authorization: "Bearer not.a.token", APIKey: f.activeKey}, want{err: authn.ErrInvalidToken}},
		// A zec_ bearer is left to the key authenticator, but X-API-Key is
		// read first.
		{"key header wins over key bearer", authn.Credentials{Authorization: "Bearer " + f.unknownKey, APIKey: f.activeKey}, keyUser},
		{"bad token", authn.Credentials{Authorization: "Bearer not.a.token"}, want{err: authn.ErrInvalidToken}},
		{"token of another secret", authn.Credentials{Authorization: "Bearer " + f.foreignToken}, want{err: authn.ErrInvalidToken}},
		{"token of disabled user", authn.Credentials{Authorization: "Bearer " + f.disabledToken}, want{err: authn.ErrInvalidToken}},
		{"token of unknown user", authn.Credentials{Authorization: "Bearer " + f.unknownUserToken}, want{err: authn.ErrInvalidToken}},
		{"token whose subject is no uuid", authn.Credentials{Authorization: "Bearer " + f.garbageSubjectToken}, want{err: authn.ErrInvalidToken}},
		{"malformed key", authn.Credentials{APIKey: "zec_short"}, want{err: authn.ErrInvalidKey}},
		{"key with bad checksum", authn.Credentials{APIKey: malformed}, want{err: authn.ErrInvalidKey}},
		{"malformed key as bearer", authn.Credentials{Authorization: "Bearer zec_short"}, want{err: authn.ErrInvalidKey}},
		{"not a key at all", authn.Credentials{APIKey: "hunter2"}, want{err: authn.ErrInvalidKey}},
		{"unknown key", authn.Credentials{APIKey: f.unknownKey}, want{err: authn.ErrInvalidKey}},
		{"revoked key", authn.Credentials{APIKey: f.revokedKey}, want{err: authn.ErrInvalidKey}},
		{"expired key", authn.Credentials{APIKey: f.expiredKey}, want{err: authn.ErrInvalidKey}},
		{"key of disabled user", authn.Credentials{APIKey: f.disabledUserKey}, want{err: authn.ErrInvalidKey}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			usage := &usageLog{}
			u, err := f.resolver(usage).Resolve(context.Background(), tc.cred)
			if tc.want.err != nil {
				if !errors.Is(err, tc.want.err) {
					t.Fatalf("err = %v, want %v", err, tc.want.err)
				}
				if u.ID != "" || u.Method != "" || u.APIKeyID != "" || u.Scopes != nil {
					t.Errorf("failure returned a non-zero user %+v", u)
				}
				if ids := usage.seen(); len(ids) != 0 {
					t.Errorf("usage recorded %v on failure", ids)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want success", err)
			}
			if u.ID != tc.want.userID || u.Method != tc.want.method || u.APIKeyID != tc.want.keyID {
				t.Errorf("got user %q method %q key %q, want %q %q %q",
					u.ID, u.Method, u.APIKeyID, tc.want.userID, tc.want.method, tc.want.keyID)
			}
			if !slices.Equal(u.Scopes, tc.want.scopes) {
				t.Errorf("scopes = %v, want %v", u.Scopes, tc.want.scopes)
			}
			if u.Email != f.active.Email {
				t.Errorf("email = %q, want %q", u.Email, f.active.Email)
			}
			var wantUsage []string
			if tc.want.keyID != "" {
				wantUsage = []string{tc.want.keyID}
			}
			if ids := usage.seen(); !slices.Equal(ids, wantUsage) {
				t.Errorf("usage recorded %v, want %v", ids, wantUsage)
			}
		})
	}

	t.Run("key expiring at this instant", func(t *testing.T) {
		at := f.now
		raw, _ := newKey(t, f.store, f.active.ID, []string{authn.ScopeAll}, &at)
		_, err := f.resolver(nil).Resolve(context.Background(), authn.Credentials{APIKey: raw})
		if !errors.Is(err, authn.ErrInvalidKey) {
			t.Fatalf("err = %v, want %v", err, authn.ErrInvalidKey)
		}
	})

	t.Run("key expiring later", func(t *testing.T) {
		later := f.now.Add(time.Hour)
		raw, id := newKey(t, f.store, f.active.ID, []string{authn.ScopeAll}, &later)
		u, err := f.resolver(nil).Resolve(context.Background(), authn.Credentials{APIKey: raw})
		if err != nil || u.APIKeyID != id {
			t.Fatalf("got %+v, %v; want key %s", u, err, id)
		}
	})

	t.Run("empty chain", func(t *testing.T) {
		_, err := authn.NewResolver().Resolve(context.Background(), authn.Credentials{Authorization: "Bearer " + f.activeToken})
		if !errors.Is(err, authn.ErrNoCredential) {
			t.Fatalf("err = %v, want %v", err, authn.ErrNoCredential)
		}
	})
}

// flip returns a base62 character other than c.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
