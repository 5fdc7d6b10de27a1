package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/zectre/zectre-auth/authn"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// clock is a settable time for the cache's half-life rule.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var alice = authn.AuthUser{ID: "u1", Email: "a@example.test", Method: authn.MethodAPIKey, APIKeyID: "k1", Scopes: []string{"read", "write"}}

func TestAssertionClaims(t *testing.T) {
	key := newKey(t)
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s, err := NewSigner(Options{Key: key, Issuer: "http://auth.test", TTL: time.Minute, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Assertion(alice)
	if err != nil {
		t.Fatal(err)
	}
	var c Claims
	parsed, err := jwt.ParseWithClaims(string(tok), &c, func(*jwt.Token) (any, error) { return key.Public(), nil },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithTimeFunc(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["kid"] != s.KeyID() || s.KeyID() != KeyID(key.Public().(ed25519.PublicKey)) {
		t.Errorf("kid = %v, want %s", parsed.Header["kid"], s.KeyID())
	}
	want := Claims{Email: alice.Email, AuthMethod: authn.MethodAPIKey, KeyID: "k1", Scopes: []string{"read", "write"}}
	if c.Email != want.Email || c.Admin || c.AuthMethod != want.AuthMethod || c.KeyID != want.KeyID || strings.Join(c.Scopes, ",") != "read,write" {
		t.Errorf("claims = %+v", c)
	}
	if c.Subject != "u1" || c.Issuer != "http://auth.test" || len(c.Audience) != 1 || c.Audience[0] != DefaultAudience {
		t.Errorf("registered claims = %+v", c.RegisteredClaims)
	}
	if !c.IssuedAt.Equal(clk.now()) || !c.ExpiresAt.Equal(clk.now().Add(time.Minute)) {
		t.Errorf("iat %v exp %v", c.IssuedAt, c.ExpiresAt)
	}
}

// An assertion is reused until less than half its life is left, and
// re-minted at once when what it says of the caller changed.
func TestAssertionCache(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s, err := NewSigner(Options{Key: newKey(t), Issuer: "http://auth.test", TTL: time.Minute, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := s.Assertion(alice)
	changed := alice
	changed.IsAdmin = true
	otherScopes := alice
	otherScopes.Scopes = []string{"read"}
	token := alice
	token.Method, token.APIKeyID, token.Scopes = authn.MethodJWT, "", []string{"*"}
	for _, tc := range []struct {
		name    string
		advance time.Duration
		u       authn.AuthUser
		same    bool
	}{
		{"at once", 0, alice, true},
		{"just before half", 29 * time.Second, alice, true},
		{"admin changed", 0, changed, false},
		{"scopes changed", 0, otherScopes, false},
		{"other method", 0, token, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.add(tc.advance)
			got, _ := s.Assertion(tc.u)
			if (string(got) == string(first)) != tc.same {
				t.Errorf("reused = %v, want %v", !tc.same, tc.same)
			}
		})
	}
	clk.add(2 * time.Second) // 31 s: less than half left
	if again, _ := s.Assertion(alice); string(again) == string(first) {
		t.Error("reused past half its life")
	}
}

func TestJWKSPublishesPreviousKeys(t *testing.T) {
	cur, prev := newKey(t), newKey(t)
	s, err := NewSigner(Options{Key: cur, Previous: []ed25519.PublicKey{prev.Public().(ed25519.PublicKey), cur.Public().(ed25519.PublicKey)}, Issuer: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Keys []jwk }
	if err := json.Unmarshal(s.JWKS(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 2 || doc.Keys[0].Kid != s.KeyID() || doc.Keys[1].Kid != KeyID(prev.Public().(ed25519.PublicKey)) {
		t.Fatalf("keys = %+v", doc.Keys)
	}
	for _, k := range doc.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || k.Use != "sig" {
			t.Errorf("key = %+v", k)
		}
		if strings.Contains(string(s.JWKS()), `"d"`) {
			t.Error("private part published")
		}
	}
}

func TestNewSignerRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"no key", Options{}},
		{"ttl too short", Options{Key: newKey(t), TTL: 9 * time.Second}},
		{"ttl too long", Options{Key: newKey(t), TTL: 11 * time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewSigner(tc.o); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// The generated key is made once and read back after.
func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(dir)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second load = %v; same key: %v", err, k1.Equal(k2))
	}
	info, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", info, err)
	}
	if _, err := LoadOrCreateKey(""); err == nil {
		t.Error("empty data dir accepted")
	}
}

func TestReadKeyFileRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, text, want string }{
		{"not pem", "hello", "no PKCS#8 PEM block"},
		{"wrong block", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "no PKCS#8 PEM block"},
		{"garbage der", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a PKCS#8 private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(p, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadKeyFile(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// BenchmarkAssertionCached is the hot path: a cached identity.
func BenchmarkAssertionCached(b *testing.B) {
	s, err := NewSigner(Options{Key: newKey(b), Issuer: "x"})
	if err != nil {
		b.Fatal(err)
	}
	u := alice
	if _, err := s.Assertion(u); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Assertion(u); err != nil {
			b.Fatal(err)
		}
	}
}
