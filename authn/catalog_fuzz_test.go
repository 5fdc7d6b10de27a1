package authn

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/store/storetest"
)

// FuzzCatalogToken feeds arbitrary bearer tokens to the catalog
// authenticator. Invariants: no panic; an error is ErrNotResponsible (not a
// catalog token) or ErrInvalidToken and comes with the zero AuthUser; a
// success is a catalog user.
func FuzzCatalogToken(f *testing.F) {
	keyA := rsaKey("a", "rsa-a")
	srv := newJWKSServer(f, keyA)
	cat := newCatalog(f, srv.URL, openTestStore(f, storetest.SQLiteURL(f)), func(o *CatalogOptions) {
		o.Cache = NewTokenCache(0)
		// One unknown-kid fetch an hour: a mutated kid is refused at once
		// instead of waiting for the next fetch slot.
		o.UnknownKIDBurst, o.UnknownKIDInterval = 1, time.Hour
	})

	valid := mint(f, keyA, catClaims("fuzz"))
	f.Add(valid)
	f.Add(tamper(f, valid))
	f.Add(mint(f, keyA, edited(catClaims("fuzz"), "exp", nil)))
	f.Add(rawToken(f, map[string]any{"alg": "HS256", "kid": "a"}, catClaims("x"), hmacWith(publicKeyForms(f, keyA)["pem"])))
	f.Add(rawToken(f, map[string]any{"alg": "none", "kid": "a"}, catClaims("x"), func(string) []byte { return nil }))
	f.Add(rawToken(f, map[string]any{"alg": "RS256", "kid": []int{1}}, catClaims("x"), func(string) []byte { return nil }))
	f.Add(issueOwn(f, newTestTokens(f), "someone"))
	f.Add("eyJhbGciOiJSUzI1NiJ9..")
	f.Add("eyJhbGciOiJSUzI1NiJ9" + strings.Repeat(".", 1000))
	f.Add("zec_notatoken")
	f.Add("")

	f.Fuzz(func(t *testing.T, tok string) {
		u, err := cat.Authenticate(context.Background(), bearer(tok))
		if err != nil {
			if !errors.Is(err, ErrNotResponsible) && !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if !reflect.DeepEqual(u, AuthUser{}) {
				t.Fatalf("error %v came with a non-zero user %+v", err, u)
			}
			return
		}
		if u.Method != MethodCatalogJWT || u.ID == "" {
			t.Fatalf("success with %+v", u)
		}
	})
}
