package authn

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// joseCase is one token detail: header entries added and claims replaced
// (a json.RawMessage value is sent as written, so null and odd types can be
// spelled). Every token is signed properly, so only the detail can make it
// fail.
type joseCase struct {
	name   string
	header map[string]any
	claims map[string]any
	ok     bool
}

func joseCases() []joseCase {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	future := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	past := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	return []joseCase{
		{name: "plain token", ok: true},
		{name: "exp, nbf, iat as numbers", claims: map[string]any{"nbf": raw(past), "iat": raw(past), "exp": raw(future)}, ok: true},
		{name: "exp as a fraction", claims: map[string]any{"exp": raw(future + ".5")}, ok: true},
		{name: "unrelated header entry", header: map[string]any{"cty": "x"}, ok: true},

		{name: "crit naming an unknown extension", header: map[string]any{"crit": []string{"x-unknown"}, "x-unknown": 1}},
		{name: "crit naming exp", header: map[string]any{"crit": []string{"exp"}}},
		{name: "crit naming b64", header: map[string]any{"crit": []string{"b64"}, "b64": true}},
		{name: "crit empty array", header: map[string]any{"crit": []string{}}},
		{name: "crit a string", header: map[string]any{"crit": "exp"}},
		{name: "crit null", header: map[string]any{"crit": raw("null")}},
		{name: "crit an object", header: map[string]any{"crit": map[string]any{}}},

		{name: "exp a quoted number", claims: map[string]any{"exp": raw(`"9999999999"`)}},
		{name: "exp a quoted near future", claims: map[string]any{"exp": raw(`"` + future + `"`)}},
		{name: "exp true", claims: map[string]any{"exp": raw("true")}},
		{name: "exp an object", claims: map[string]any{"exp": raw(`{"n":9999999999}`)}},
		{name: "exp an array", claims: map[string]any{"exp": raw(`[9999999999]`)}},
		{name: "exp null", claims: map[string]any{"exp": raw("null")}},
		{name: "nbf a quoted number", claims: map[string]any{"nbf": raw(`"` + past + `"`)}},
		{name: "nbf false", claims: map[string]any{"nbf": raw("false")}},
		{name: "nbf null", claims: map[string]any{"nbf": raw("null")}},
		{name: "iat a quoted number", claims: map[string]any{"iat": raw(`"` + past + `"`)}},
		{name: "iat an object", claims: map[string]any{"iat": raw(`{}`)}},
		{name: "iat null", claims: map[string]any{"iat": raw("null")}},
	}
}

func (tc joseCase) sign(t *testing.T, method jwt.SigningMethod, kid string, base jwt.MapClaims, key any) string {
	t.Helper()
	claims := jwt.MapClaims{}
	for k, v := range base {
		claims[k] = v
	}
	for k, v := range tc.claims {
		claims[k] = v
	}
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	for k, v := range tc.header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// TestOwnTokenJOSE: the service's HS256 tokens follow RFC 7515 §4.1.11
// (crit) and RFC 7519 §2 (NumericDate).
func TestOwnTokenJOSE(t *testing.T) {
	tk := newTestTokens(t)
	for _, tc := range joseCases() {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.sign(t, jwt.SigningMethodHS256, "", validClaims(), testSecret)
			id, err := tk.Verify(tok)
			if tc.ok {
				if err != nil || id != "u1" {
					t.Fatalf("got %q, %v; want u1", id, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("got %q, %v; want ErrInvalidToken", id, err)
			}
		})
	}
}

// TestCatalogTokenJOSE: the same rules for catalog RS256 tokens, verified
// through a real JWKS endpoint.
func TestCatalogTokenJOSE(t *testing.T) {
	keyA := rsaKey("a", "rsa-a")
	srv := newJWKSServer(t, keyA)
	cat := newCatalog(t, srv.URL, newMemDirectory(), func(o *CatalogOptions) { o.Cache = NewTokenCache(0) })
	for i, tc := range joseCases() {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.sign(t, keyA.method, keyA.kid, catClaims("jose"+strconv.Itoa(i)), keyA.priv)
			for range 2 { // and again: a refused token is not cached as good
				_, err := cat.Authenticate(context.Background(), bearer(tok))
				if tc.ok && err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !tc.ok && !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("got %v; want ErrInvalidToken", err)
				}
			}
		})
	}
}
