package authn

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

func newTestTokens(t testing.TB) *Tokens {
	t.Helper()
	tk, err := NewTokens(testSecret, DefaultTokenTTL)
	if err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	return tk
}

// withClock makes tk verify as if the time were now.
func withClock(tk *Tokens, now time.Time) { tk.now = func() time.Time { return now } }

func sign(t testing.TB, method jwt.SigningMethod, claims jwt.Claims, key any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// validClaims are what Issue would put in a token for user "u1" right now.
func validClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub": "u1",
		"iss": TokenIssuer,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
		"jti": "x",
	}
}

func without(c jwt.MapClaims, key string) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func with(c jwt.MapClaims, key string, v any) jwt.MapClaims {
	out := without(c, key)
	out[key] = v
	return out
}

// nonCanonical re-spells the last character of tok's signature with the
// unused low bits set: lenient base64 decodes it to the same signature.
func nonCanonical(tok string) string {
	last := strings.IndexByte(b64URL, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(b64URL[last|1])
}

const b64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestTokenRoundTrip(t *testing.T) {
	tk := newTestTokens(t)
	now := time.Now()
	tok, exp, err := tk.Issue("user-123", now)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tk.Verify(tok); err != nil || got != "user-123" {
		t.Fatalf("Verify = %q, %v; want user-123", got, err)
	}
	want := now.Add(DefaultTokenTTL).Truncate(time.Second)
	if !exp.Equal(want) || exp.Location() != time.UTC {
		t.Errorf("expiresAt = %v, want %v in UTC", exp, want)
	}

	// The claims are exactly the documented ones; expiresAt is exp.
	var claims map[string]any
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["sub"] != "user-123" || claims["iss"] != TokenIssuer {
		t.Errorf("claims = %v", claims)
	}
	if e, ok := claims["exp"].(float64); !ok || int64(e) != exp.Unix() {
		t.Errorf("exp claim %v does not equal expiresAt %d", claims["exp"], exp.Unix())
	}
	if i, ok := claims["iat"].(float64); !ok || int64(i) != now.Unix() {
		t.Errorf("iat claim %v, want %d", claims["iat"], now.Unix())
	}
	if j, _ := claims["jti"].(string); len(j) < 16 {
		t.Errorf("jti %q is not a random id", j)
	}
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if !strings.Contains(string(header), `"alg":"HS256"`) {
		t.Errorf("header %s is not HS256", header)
	}

	// Two tokens for one user at one instant still differ (jti).
	tok2, _, err := tk.Issue("user-123", now)
	if err != nil {
		t.Fatal(err)
	}
	if tok2 == tok {
		t.Error("two tokens issued at once are identical")
	}
}

func TestTokenExpiry(t *testing.T) {
	tk := newTestTokens(t)
	issued := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	tok, exp, err := tk.Issue("u1", issued)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"just issued", issued, true},
		{"one second before exp", exp.Add(-time.Second), true},
		{"within leeway after exp", exp.Add(4 * time.Second), true},
		{"past leeway", exp.Add(6 * time.Second), false},
		{"a year later", exp.Add(365 * 24 * time.Hour), false},
		{"issued in the future beyond leeway", issued.Add(-time.Minute), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			withClock(tk, tc.now)
			id, err := tk.Verify(tok)
			if tc.ok && (err != nil || id != "u1") {
				t.Fatalf("Verify = %q, %v; want u1", id, err)
			}
			if !tc.ok && (!errors.Is(err, ErrInvalidToken) || id != "") {
				t.Fatalf("Verify = %q, %v; want ErrInvalidToken", id, err)
			}
		})
	}
}

func TestTokenExpiredWithRealClock(t *testing.T) {
	tk := newTestTokens(t)
	tok, _, err := tk.Issue("u1", time.Now().Add(-DefaultTokenTTL-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := tk.Verify(tok); !errors.Is(err, ErrInvalidToken) || !errors.Is(err, jwt.ErrTokenExpired) || id != "" {
		t.Fatalf("Verify(expired) = %q, %v; want ErrInvalidToken (expired)", id, err)
	}
}

func TestTokenRejects(t *testing.T) {
	tk := newTestTokens(t)
	good, _, err := tk.Issue("u1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	noneToken := sign(t, jwt.SigningMethodNone, validClaims(), jwt.UnsafeAllowNoneSignatureType)
	c := validClaims()

	cases := []struct{ name, token string }{
		{"empty", ""},
		{"garbage", "not-a-jwt"},
		{"alg none", noneToken},
		{"alg none, our header", parts[0] + "." + strings.Split(noneToken, ".")[1] + "."},
		{"unsigned", parts[0] + "." + parts[1] + "."},
		{"another secret", sign(t, jwt.SigningMethodHS256, c, []byte("another-secret-another-secret-32"))},
		{"rs256", sign(t, jwt.SigningMethodRS256, c, rsaKey)},
		{"ps256", sign(t, jwt.SigningMethodPS256, c, rsaKey)},
		{"hs384 same secret", sign(t, jwt.SigningMethodHS384, c, testSecret)},
		{"hs512 same secret", sign(t, jwt.SigningMethodHS512, c, testSecret)},
		{"missing exp", sign(t, jwt.SigningMethodHS256, without(c, "exp"), testSecret)},
		{"exp not a number", sign(t, jwt.SigningMethodHS256, with(c, "exp", "soon"), testSecret)},
		{"exp null", sign(t, jwt.SigningMethodHS256, with(c, "exp", nil), testSecret)},
		{"wrong iss", sign(t, jwt.SigningMethodHS256, with(c, "iss", "zectre-catalog"), testSecret)},
		{"missing sub", sign(t, jwt.SigningMethodHS256, without(c, "sub"), testSecret)},
		{"empty sub", sign(t, jwt.SigningMethodHS256, with(c, "sub", ""), testSecret)},
		{"sub not a string", sign(t, jwt.SigningMethodHS256, with(c, "sub", 42), testSecret)},
		{"iat in the future", sign(t, jwt.SigningMethodHS256, with(c, "iat", time.Now().Add(time.Hour).Unix()), testSecret)},
		{"nbf in the future", sign(t, jwt.SigningMethodHS256, with(c, "nbf", time.Now().Add(time.Hour).Unix()), testSecret)},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","iss":"zectre-auth","exp":9999999999}`)) + "." + parts[2]},
		{"tampered signature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))},
		{"truncated signature", good[:len(good)-2]},
		{"four segments", good + ".e30"},
		{"two segments", parts[0] + "." + parts[1]},
		{"padded signature", good + "="},
		{"non-canonical signature base64", nonCanonical(good)},
		{"whitespace", " " + good},
		{"oversize", good + "." + strings.Repeat("A", MaxTokenLength)},
		{"just over the cap", strings.Repeat("A", MaxTokenLength+1)},
		{"dot flood", strings.Repeat(".", 10000)},
		{"dot flood under the cap", strings.Repeat(".", MaxTokenLength)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tk.Verify(tc.token)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify(%.60q) err = %v; want ErrInvalidToken", tc.token, err)
			}
			if id != "" {
				t.Errorf("Verify returned user %q with an error", id)
			}
		})
	}
}

// A token signed by another Tokens (another secret) is refused, and one
// signed by the same secret elsewhere (another replica) is accepted.
func TestTokenSecretBinding(t *testing.T) {
	a := newTestTokens(t)
	b, err := NewTokens([]byte(strings.Repeat("z", 32)), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	replica := newTestTokens(t)
	tok, _, err := a.Issue("u1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("other secret: err = %v; want ErrInvalidToken", err)
	}
	if id, err := replica.Verify(tok); err != nil || id != "u1" {
		t.Errorf("same secret: %q, %v", id, err)
	}
}

func TestNewTokensRejects(t *testing.T) {
	if _, err := NewTokens(testSecret[:31], time.Hour); err == nil {
		t.Error("accepted a 31-byte secret")
	}
	if _, err := NewTokens(nil, time.Hour); err == nil {
		t.Error("accepted no secret")
	}
	if _, err := NewTokens(testSecret, 0); err == nil {
		t.Error("accepted a zero ttl")
	}
	// The secret is copied: changing the caller's slice changes nothing.
	s := append([]byte(nil), testSecret...)
	tk, err := NewTokens(s, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := tk.Issue("u1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s[0] ^= 1
	if _, err := tk.Verify(tok); err != nil {
		t.Errorf("Verify after the caller changed its slice: %v", err)
	}
	if _, _, err := tk.Issue("", time.Now()); err == nil {
		t.Error("issued a token with no subject")
	}
}

func FuzzVerifyToken(f *testing.F) {
	tk := newTestTokens(f)
	// Fuzz workers are separate processes, so the one valid token must be
	// the same in each: fixed claims instead of Issue's random jti.
	good := sign(f, jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "u1", "iss": TokenIssuer, "jti": "fuzz",
		"iat": time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix(),
		"exp": time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix(),
	}, testSecret)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add("")
	f.Add("..")
	f.Add(strings.Repeat(".", 100))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.AAAA")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := tk.Verify(token)
		if err != nil {
			if id != "" {
				t.Fatalf("user %q returned with error %v", id, err)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			return
		}
		if id == "" {
			t.Fatal("accepted a token with no subject")
		}
		if token != good {
			t.Fatalf("accepted a token other than the one issued: %q", token)
		}
	})
}

func BenchmarkTokenVerify(b *testing.B) {
	tk := newTestTokens(b)
	tok, _, err := tk.Issue("0b7e2f0c-8a4e-4f55-9d2c-2f1e4b7a9c11", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTokenIssue(b *testing.B) {
	tk := newTestTokens(b)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tk.Issue("0b7e2f0c-8a4e-4f55-9d2c-2f1e4b7a9c11", now); err != nil {
			b.Fatal(err)
		}
	}
}

// A token signed with the shared secret but without iss (as another zectre
// service may issue) is accepted; any other issuer is not.
func TestTokenWithoutIssuer(t *testing.T) {
	tk := newTestTokens(t)
	c := validClaims()
	id, err := tk.Verify(sign(t, jwt.SigningMethodHS256, without(c, "iss"), testSecret))
	if err != nil || id != c["sub"] {
		t.Fatalf("no iss: %q, %v", id, err)
	}
	if _, err := tk.Verify(sign(t, jwt.SigningMethodHS256, with(c, "iss", ""), testSecret)); err != nil {
		t.Fatalf("empty iss: %v", err)
	}
}
