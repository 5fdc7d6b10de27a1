package authn_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/store/storetest"
)

// TestRevokedTokens: a token issued before the account's revocation time is
// refused, whether or not the verified-token cache holds it; a token dated
// after it, and the account's API keys, still work.
func TestRevokedTokens(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, storetest.SQLiteURL(t))
	tokens := newTokens(t, resolverSecret)
	cache := authn.NewTokenCache(0)
	for _, tc := range []struct {
		name     string
		resolver *authn.Resolver
	}{
		{"without cache", authn.NewResolver(authn.TokenAuthenticator{Tokens: tokens, Users: st},
			authn.KeyAuthenticator{Keys: st})},
		{"with the verified-token cache", authn.NewResolver(cache.Authenticator(st),
			authn.TokenAuthenticator{Tokens: tokens, Users: st, Cache: cache}, authn.KeyAuthenticator{Keys: st})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUser(t, st, "revoked-"+strings.ReplaceAll(tc.name, " ", "-")+"@example.com")
			key, _ := newKey(t, st, u.ID, []string{authn.ScopeAll}, nil)
			old, _, err := tokens.Issue(u.ID, time.Now().Add(-time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			// Seen once before the revocation, so that the cache holds it.
			if _, err := tc.resolver.Resolve(ctx, authn.Credentials{Authorization: "Bearer " + old}); err != nil {
				t.Fatalf("before revocation: %v", err)
			}
			changed, err := st.RevokeTokens(ctx, u.Email, time.Now().Add(-30*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second time from the cache, where there is one
				if _, err := tc.resolver.Resolve(ctx, authn.Credentials{Authorization: "Bearer " + old}); !errors.Is(err, authn.ErrInvalidToken) {
					t.Errorf("revoked token: err = %v, want ErrInvalidToken", err)
				}
			}
			fresh, _, err := tokens.Issue(u.ID, changed.TokensValidAfter)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := tc.resolver.Resolve(ctx, authn.Credentials{Authorization: "Bearer " + fresh}); err != nil || got.ID != u.ID {
				t.Errorf("token dated at the revocation time: %+v, %v", got, err)
			}
			if got, err := tc.resolver.Resolve(ctx, authn.Credentials{APIKey: key}); err != nil || got.ID != u.ID {
				t.Errorf("API key after revocation: %+v, %v", got, err)
			}
		})
	}
}
