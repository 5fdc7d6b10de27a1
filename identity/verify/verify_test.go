package verify_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/identity"
	"github.com/zectre/zectre-auth/identity/verify"
)

const issuer = "http://auth.test"

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newSigner(t *testing.T, key ed25519.PrivateKey, prev ...ed25519.PublicKey) *identity.Signer {
	t.Helper()
	s, err := identity.NewSigner(identity.Options{Key: key, Previous: prev, Issuer: issuer})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwksServer serves the JWKS of *doc, counting fetches.
func jwksServer(t *testing.T, doc *atomic.Pointer[[]byte], fetches *atomic.Int32) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		_, _ = w.Write(*doc.Load())
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

var bob = authn.AuthUser{ID: "u2", Email: "b@example.test", IsAdmin: true, Method: authn.MethodJWT, Scopes: []string{"*"}}

func TestVerify(t *testing.T) {
	key, stranger := newKey(t), newKey(t)
	signer := newSigner(t, key)
	var doc atomic.Pointer[[]byte]
	jwks := signer.JWKS()
	doc.Store(&jwks)
	var fetches atomic.Int32
	url := jwksServer(t, &doc, &fetches)
	good, _ := signer.Assertion(bob)

	mint := func(k ed25519.PrivateKey, kid string, edit func(*jwt.RegisteredClaims)) string {
		rc := jwt.RegisteredClaims{Issuer: issuer, Subject: "u2", Audience: jwt.ClaimStrings{verify.DefaultAudience},
			IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))}
		if edit != nil {
			edit(&rc)
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, identity.Claims{Email: "x", RegisteredClaims: rc})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tampered := []byte(string(good))
	tampered[len(tampered)-5] ^= 1
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Issuer: issuer, Subject: "u2",
		Audience: jwt.ClaimStrings{verify.DefaultAudience}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))})
	hs.Header["kid"] = signer.KeyID()
	hsTok, _ := hs.SignedString([]byte("a-secret-of-at-least-32-bytes!!!"))

	for _, tc := range []struct {
		name, token string
		ok          bool
	}{
		{"the service's assertion", string(good), true},
		{"missing", "", false},
		{"not a jwt", "forged", false},
		{"tampered signature", string(tampered), false},
		{"unknown key under the real kid", mint(stranger, signer.KeyID(), nil), false},
		{"unknown kid", mint(stranger, identity.KeyID(stranger.Public().(ed25519.PublicKey)), nil), false},
		{"no kid", mint(key, "", nil), false},
		{"expired", mint(key, signer.KeyID(), func(c *jwt.RegisteredClaims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
		}), false},
		{"no exp", mint(key, signer.KeyID(), func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil }), false},
		{"wrong issuer", mint(key, signer.KeyID(), func(c *jwt.RegisteredClaims) { c.Issuer = "http://other.test" }), false},
		{"wrong audience", mint(key, signer.KeyID(), func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"other"} }), false},
		{"no subject", mint(key, signer.KeyID(), func(c *jwt.RegisteredClaims) { c.Subject = "" }), false},
		{"HS256 with the kid", hsTok, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verify.New(verify.Options{JWKSURL: url, Issuer: issuer})
			if err != nil {
				t.Fatal(err)
			}
			id, err := v.Verify(context.Background(), tc.token)
			if tc.ok != (err == nil) {
				t.Fatalf("Verify = %+v, %v; want ok %v", id, err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, verify.ErrInvalid) && !errors.Is(err, verify.ErrMissing) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
			if tc.ok && (id.UserID != "u2" || id.Email != bob.Email || !id.Admin || id.AuthMethod != "jwt" || !id.HasScope("any")) {
				t.Errorf("identity = %+v", id)
			}
		})
	}
}

// A key rotated in is found by refetching on its unknown kid, at most once
// per MinRefetch; the previous key keeps verifying while it is published.
func TestVerifyRotation(t *testing.T) {
	oldKey, newKeyPair := newKey(t), newKey(t)
	oldSigner := newSigner(t, oldKey)
	var doc atomic.Pointer[[]byte]
	jwks := oldSigner.JWKS()
	doc.Store(&jwks)
	var fetches atomic.Int32
	url := jwksServer(t, &doc, &fetches)
	v, err := verify.New(verify.Options{JWKSURL: url, Issuer: issuer, MinRefetch: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	oldTok, _ := oldSigner.Assertion(bob)
	if _, err := v.Verify(context.Background(), string(oldTok)); err != nil {
		t.Fatal(err)
	}
	// Rotate: new signing key, the old one published as previous.
	newSigner := newSigner(t, newKeyPair, oldKey.Public().(ed25519.PublicKey))
	rotated := newSigner.JWKS()
	doc.Store(&rotated)
	newTok, _ := newSigner.Assertion(bob)
	// The first fetch was just now: MinRefetch holds back the refetch.
	if _, err := v.Verify(context.Background(), string(newTok)); err == nil {
		t.Fatal("refetched within MinRefetch")
	}

	v, _ = verify.New(verify.Options{JWKSURL: url, Issuer: issuer})
	for _, tok := range [][]byte{oldTok, newTok} {
		if _, err := v.Verify(context.Background(), string(tok)); err != nil {
			t.Fatalf("after rotation: %v", err)
		}
	}
}

func TestMiddleware(t *testing.T) {
	key := newKey(t)
	signer := newSigner(t, key)
	var doc atomic.Pointer[[]byte]
	jwks := signer.JWKS()
	doc.Store(&jwks)
	var fetches atomic.Int32
	v, _ := verify.New(verify.Options{JWKSURL: jwksServer(t, &doc, &fetches), Issuer: issuer})
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := verify.FromContext(r.Context())
		if !ok {
			t.Error("no identity in the context")
			return
		}
		_, _ = w.Write([]byte(id.UserID))
	}))
	good, _ := signer.Assertion(bob)
	for _, tc := range []struct {
		name   string
		values []string
		status int
	}{
		{"valid", []string{string(good)}, 200},
		{"missing", nil, 401},
		{"forged", []string{"eyJhbGciOiJub25lIn0.e30."}, 401},
		{"two assertions", []string{string(good), string(good)}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for _, val := range tc.values {
				r.Header.Add(verify.Header, val)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == 401 && w.Header().Get("Content-Type") != "application/json" {
				t.Error("refusal is not JSON")
			}
		})
	}
}
