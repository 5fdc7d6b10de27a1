package authn

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

func openTestStore(t testing.TB, url string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// rawToken assembles a token from a header, claims and a signature function
// over the signing input, for tokens no library would sign.
func rawToken(t testing.TB, header map[string]any, claims jwt.MapClaims, sig func(signingInput string) []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	in := enc(header) + "." + enc(claims)
	return in + "." + base64.RawURLEncoding.EncodeToString(sig(in))
}

// hmacWith signs like HS256 with secret as the key.
func hmacWith(secret []byte) func(string) []byte {
	return func(in string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return m.Sum(nil)
	}
}

// publicKeyForms are the spellings of a public key an attacker would try as
// an HMAC secret.
func publicKeyForms(t testing.TB, k signingKey) map[string][]byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	jwkJSON, err := json.Marshal(k.jwk(t))
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"der": der,
		"pem": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		"jwk": jwkJSON,
	}
}

type verifyCase struct {
	name  string
	token string
	ok    bool
	email string // expected on success; default sub@catalog.example
}

func TestCatalogVerify(t *testing.T) {
	keyA := rsaKey("a", "rsa-a")
	rs384 := signingKey{kid: "rs384", alg: "RS384", use: jwkset.UseSig, priv: testKeys()["rsa-b"], method: jwt.SigningMethodRS384}
	ps256 := signingKey{kid: "ps256", alg: "PS256", use: jwkset.UseSig, priv: testKeys()["rsa-c"], method: jwt.SigningMethodPS256}
	noAlg := signingKey{kid: "no-alg", use: jwkset.UseSig, priv: testKeys()["rsa-c"], method: jwt.SigningMethodRS256}
	ec := signingKey{kid: "ec", priv: testKeys()["ec"], method: jwt.SigningMethodES256}
	ed := signingKey{kid: "ed", priv: testKeys()["ed"], method: jwt.SigningMethodEdDSA}
	weak := signingKey{kid: "weak", alg: "RS256", priv: testKeys()["rsa-weak"], method: jwt.SigningMethodRS256}
	enc := signingKey{kid: "enc", alg: "RS256", use: jwkset.UseEnc, priv: testKeys()["rsa-b"], method: jwt.SigningMethodRS256}
	stranger := rsaKey("a", "rsa-b") // names kid a, signs with another key

	srv := newJWKSServer(t, keyA, rs384, ps256, noAlg, ec, ed, weak, enc)
	// A symmetric key in the JWKS must never verify anything.
	secret := []byte("a-shared-secret-of-32-bytes-long")
	var set map[string][]map[string]string
	if err := json.Unmarshal(srv.body, &set); err != nil {
		t.Fatal(err)
	}
	set["keys"] = append(set["keys"], map[string]string{
		"kty": "oct", "kid": "oct", "alg": "HS256", "k": base64.RawURLEncoding.EncodeToString(secret),
	})
	body, _ := json.Marshal(set)
	srv.serveRaw(200, body)

	st := openTestStore(t, storetest.SQLiteURL(t))
	cat := newCatalog(t, srv.URL, st, nil)
	own := newTestTokens(t)
	chain := NewResolver(cat, TokenAuthenticator{Tokens: own, Users: st}, KeyAuthenticator{Keys: st})

	now := time.Now()
	good := func(sub string) jwt.MapClaims { return catClaims(sub) }
	long := strings.Repeat("x", MaxTokenLength)

	cases := []verifyCase{
		{name: "RS256", token: mint(t, keyA, good("rs256")), ok: true},
		{name: "RS384 declared by the key", token: mint(t, rs384, good("rs384")), ok: true},
		{name: "PS256 declared by the key", token: mint(t, ps256, good("ps256")), ok: true},
		{name: "RSA key without alg takes RS256", token: mint(t, noAlg, good("noalg")), ok: true},
		{name: "ES256 from the curve", token: mint(t, ec, good("es256")), ok: true},
		{name: "EdDSA", token: mint(t, ed, good("eddsa")), ok: true},
		{name: "email trimmed and lowercased", token: mint(t, keyA, edited(good("mixed"), "email", "  Mixed.Case@Example.COM ")), ok: true, email: "mixed.case@example.com"},
		{name: "name not a string is ignored", token: mint(t, keyA, edited(good("oddname"), "name", 42)), ok: true},
		{name: "audience in a list", token: mint(t, keyA, edited(good("auds"), "aud", []string{"other", catAudience})), ok: true},
		{name: "exp within the leeway", token: mint(t, keyA, edited(good("leeway"), "exp", now.Add(-10*time.Second).Unix())), ok: true},

		{name: "RS384 token for a key without alg (RS256 only)", token: mint(t, signingKey{kid: "no-alg", priv: noAlg.priv, method: jwt.SigningMethodRS384}, good("x"))},
		{name: "PS256 token for an RS256 key", token: mint(t, signingKey{kid: "a", priv: keyA.priv, method: jwt.SigningMethodPS256}, good("x"))},
		{name: "RS256 token for a PS256 key", token: mint(t, signingKey{kid: "ps256", priv: ps256.priv, method: jwt.SigningMethodRS256}, good("x"))},
		{name: "ES384 token for a P-256 key", token: rawToken(t, map[string]any{"alg": "ES384", "kid": "ec"}, good("x"), func(string) []byte { return make([]byte, 96) })},
		{name: "signed by another key under kid a", token: mint(t, stranger, good("x"))},
		{name: "weak RSA key", token: mint(t, weak, good("x"))},
		{name: "encryption key", token: mint(t, enc, good("x"))},
		{name: "symmetric key in the jwks, RS256 header", token: rawToken(t, map[string]any{"alg": "RS256", "kid": "oct"}, good("x"), hmacWith(secret))},
		{name: "symmetric key in the jwks, HS256 header", token: rawToken(t, map[string]any{"alg": "HS256", "kid": "oct", "typ": "JWT"}, good("x"), hmacWith(secret))},
		{name: "alg none with kid", token: rawToken(t, map[string]any{"alg": "none", "kid": "a"}, good("x"), func(string) []byte { return nil })},
		{name: "alg None", token: rawToken(t, map[string]any{"alg": "None", "kid": "a"}, good("x"), func(string) []byte { return nil })},
		{name: "unknown kid", token: mint(t, rsaKey("nope", "rsa-a"), good("x"))},
		{name: "kid not a string", token: rawToken(t, map[string]any{"alg": "RS256", "kid": 7}, good("x"), func(string) []byte { return make([]byte, 256) })},
		{name: "tampered claims", token: tamper(t, mint(t, keyA, good("x")))},
		{name: "missing exp", token: mint(t, keyA, edited(good("x"), "exp", nil))},
		{name: "expired", token: mint(t, keyA, edited(good("x"), "exp", now.Add(-2*time.Minute).Unix()))},
		{name: "issued in the future", token: mint(t, keyA, edited(good("x"), "iat", now.Add(5*time.Minute).Unix()))},
		{name: "not yet valid", token: mint(t, keyA, edited(good("x"), "nbf", now.Add(5*time.Minute).Unix()))},
		{name: "wrong issuer", token: mint(t, keyA, edited(good("x"), "iss", "https://evil.example"))},
		{name: "missing issuer", token: mint(t, keyA, edited(good("x"), "iss", nil))},
		{name: "wrong audience", token: mint(t, keyA, edited(good("x"), "aud", "someone-else"))},
		{name: "missing audience", token: mint(t, keyA, edited(good("x"), "aud", nil))},
		{name: "missing subject", token: mint(t, keyA, edited(good("x"), "sub", nil))},
		{name: "subject with a NUL", token: mint(t, keyA, edited(good("x"), "sub", "a\x00b"))},
		{name: "subject too long", token: mint(t, keyA, edited(good("x"), "sub", strings.Repeat("s", maxSubjectBytes+1)))},
		{name: "missing email", token: mint(t, keyA, edited(good("x"), "email", nil))},
		{name: "email without @", token: mint(t, keyA, edited(good("x"), "email", "nobody"))},
		{name: "email not a string", token: mint(t, keyA, edited(good("x"), "email", 12))},
		{name: "oversized", token: mint(t, keyA, edited(good("x"), "pad", long))},
		{name: "two segments", token: "eyJhbGciOiJSUzI1NiJ9.e30"},
		{name: "non-canonical signature encoding", token: nonCanonical(mint(t, keyA, good("noncanon")))},
	}
	// Algorithm confusion: HS256 over the public key of kid a, in every
	// spelling. The header routes it to the own-token verifier, which
	// refuses it; with the header claiming RS256 the catalog refuses the
	// HMAC signature.
	for form, secret := range publicKeyForms(t, keyA) {
		cases = append(cases,
			verifyCase{name: "HS256 keyed with the public key as " + form, token: rawToken(t, map[string]any{"alg": "HS256", "kid": "a", "typ": "JWT"}, good("x"), hmacWith(secret))},
			verifyCase{name: "RS256 header over an HMAC with the public key as " + form, token: rawToken(t, map[string]any{"alg": "RS256", "kid": "a"}, good("x"), hmacWith(secret))},
		)
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := chain.Resolve(context.Background(), bearer(tc.token))
			if !tc.ok {
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("err = %v, want %v", err, ErrInvalidToken)
				}
				if u.ID != "" || u.Method != "" || u.Scopes != nil {
					t.Errorf("failure returned a non-zero user %+v", u)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want success", err)
			}
			claims := jwt.MapClaims{}
			if _, _, err := jwt.NewParser().ParseUnverified(tc.token, claims); err != nil {
				t.Fatal(err)
			}
			want := tc.email
			if want == "" {
				want = claims["sub"].(string) + "@catalog.example"
			}
			if u.Method != MethodCatalogJWT || !slices.Equal(u.Scopes, []string{ScopeAll}) || u.Email != want || u.ID == "" {
				t.Fatalf("got %+v, want a catalog user %s with scope *", u, want)
			}
		})
	}

	t.Run("the catalog never takes HS256 or none", func(t *testing.T) {
		for _, tok := range []string{
			rawToken(t, map[string]any{"alg": "HS256", "kid": "a"}, good("x"), hmacWith(publicKeyForms(t, keyA)["pem"])),
			rawToken(t, map[string]any{"alg": "none", "kid": "a"}, good("x"), func(string) []byte { return nil }),
			issueOwn(t, own, "someone"),
		} {
			if _, err := cat.Authenticate(context.Background(), bearer(tok)); !errors.Is(err, ErrNotResponsible) {
				t.Errorf("catalog on %.30s…: %v, want ErrNotResponsible", tok, err)
			}
			// Nor does its verifier, should a token ever get past the routing.
			if _, err := cat.verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("catalog verify on %.30s…: %v, want ErrInvalidToken", tok, err)
			}
		}
	})
}

// tamper changes the claims of a signed token, keeping the signature.
func tamper(t testing.TB, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	claims := catClaims("admin")
	b, _ := json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func issueOwn(t testing.TB, tk *Tokens, userID string) string {
	t.Helper()
	tok, _, err := tk.Issue(userID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestCatalogChain checks how the chain splits bearer tokens between the
// catalog and the service's own tokens.
func TestCatalogChain(t *testing.T) {
	keyA := rsaKey("a", "rsa-a")
	srv := newJWKSServer(t, keyA)
	st := openTestStore(t, storetest.SQLiteURL(t))
	own := newTestTokens(t)
	local := store.User{ID: "8f5b7a52-3c1e-4c38-9a57-3f4c7b0f1a11", Email: "local@example.com", CreatedAt: time.Now()}
	if err := st.CreateUser(context.Background(), local); err != nil {
		t.Fatal(err)
	}
	ownTok := issueOwn(t, own, local.ID)
	catTok := mint(t, keyA, catClaims("chain"))

	withCatalog := NewResolver(newCatalog(t, srv.URL, st, nil), TokenAuthenticator{Tokens: own, Users: st})
	var none *CatalogAuthenticator // no catalog configured
	withoutCatalog := NewResolver(none, TokenAuthenticator{Tokens: own, Users: st})

	for _, tc := range []struct {
		name   string
		r      *Resolver
		token  string
		method Method
		err    error
	}{
		{"own token, catalog configured", withCatalog, ownTok, MethodJWT, nil},
		{"catalog token, catalog configured", withCatalog, catTok, MethodCatalogJWT, nil},
		{"own token, no catalog", withoutCatalog, ownTok, MethodJWT, nil},
		{"catalog token, no catalog", withoutCatalog, catTok, "", ErrInvalidToken},
		{"garbage", withCatalog, "garbage", "", ErrInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := tc.r.Resolve(context.Background(), bearer(tc.token))
			if !errors.Is(err, tc.err) || u.Method != tc.method {
				t.Fatalf("got method %q, err %v; want %q, %v", u.Method, err, tc.method, tc.err)
			}
		})
	}
}

func TestNewCatalogAuthenticatorRejects(t *testing.T) {
	st := newMemDirectory()
	for _, tc := range []struct {
		name string
		o    CatalogOptions
	}{
		{"no url", CatalogOptions{Users: st}},
		{"relative url", CatalogOptions{JWKSURL: "/jwks.json", Users: st}},
		{"file url", CatalogOptions{JWKSURL: "file:///etc/passwd", Users: st}},
		{"no directory", CatalogOptions{JWKSURL: "http://127.0.0.1:1/jwks.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Logger = discardLogger
			if a, err := NewCatalogAuthenticator(context.Background(), tc.o); err == nil {
				_ = a.Close()
				t.Fatal("NewCatalogAuthenticator succeeded")
			}
		})
	}
}
