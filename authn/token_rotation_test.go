package authn

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestTokenRotation: which secret verifies which token, with and without
// previous secrets and kid headers.
func TestTokenRotation(t *testing.T) {
	oldSecret := []byte(strings.Repeat("o", 32))
	newSecret := []byte(strings.Repeat("n", 32))
	olderSecret := []byte(strings.Repeat("p", 40))
	strangerSecret := []byte(strings.Repeat("s", 32))
	mk := func(t *testing.T, secret []byte, previous ...[]byte) *Tokens {
		t.Helper()
		tk, err := NewTokens(secret, time.Hour, previous...)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	issue := func(t *testing.T, tk *Tokens) string {
		t.Helper()
		tok, _, err := tk.Issue("u1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// Tokens issued before tokens carried a kid: the same claims, no kid.
	noKid := func(t *testing.T, secret []byte) string {
		return sign(t, jwt.SigningMethodHS256, validClaims(), secret)
	}
	withKid := func(t *testing.T, secret []byte, kid any) string {
		t.Helper()
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, validClaims())
		tok.Header["kid"] = kid
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		verifier func(t *testing.T) *Tokens
		token    func(t *testing.T) string
		ok       bool
	}{
		{"new secret's token on the rotated replica",
			func(t *testing.T) *Tokens { return mk(t, newSecret, oldSecret) },
			func(t *testing.T) string { return issue(t, mk(t, newSecret)) }, true},
		{"old secret's token on the rotated replica",
			func(t *testing.T) *Tokens { return mk(t, newSecret, oldSecret) },
			func(t *testing.T) string { return issue(t, mk(t, oldSecret)) }, true},
		{"oldest of two previous secrets",
			func(t *testing.T) *Tokens { return mk(t, newSecret, oldSecret, olderSecret) },
			func(t *testing.T) string { return issue(t, mk(t, olderSecret)) }, true},
		{"token without kid, signed with a previous secret",
			func(t *testing.T) *Tokens { return mk(t, newSecret, oldSecret, olderSecret) },
			func(t *testing.T) string { return noKid(t, olderSecret) }, true},
		{"token without kid, signed with the current secret",
			func(t *testing.T) *Tokens { return mk(t, newSecret) },
			func(t *testing.T) string { return noKid(t, newSecret) }, true},
		{"retired secret's token",
			func(t *testing.T) *Tokens { return mk(t, newSecret) },
			func(t *testing.T) string { return issue(t, mk(t, oldSecret)) }, false},
		{"stranger's token without kid",
			func(t *testing.T) *Tokens { return mk(t, newSecret, oldSecret) },
			func(t *testing.T) string { return noKid(t, strangerSecret) }, false},
		{"stranger's secret under a configured kid",
			func(t *testing.T) *Tokens { return mk(t, newSecret, oldSecret) },
			func(t *testing.T) string { return withKid(t, strangerSecret, SecretKid(oldSecret)) }, false},
		{"old secret under the new secret's kid",
			func(t *testing.T) *Tokens { return mk(t, newSecret, oldSecret) },
			func(t *testing.T) string { return withKid(t, oldSecret, SecretKid(newSecret)) }, false},
		{"kid that is not a string",
			func(t *testing.T) *Tokens { return mk(t, newSecret) },
			func(t *testing.T) string { return withKid(t, newSecret, 7) }, false},
		{"empty kid",
			func(t *testing.T) *Tokens { return mk(t, newSecret) },
			func(t *testing.T) string { return withKid(t, newSecret, "") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.verifier(t).Verify(tc.token(t))
			switch {
			case tc.ok && (err != nil || id != "u1"):
				t.Errorf("Verify = %q, %v; want u1", id, err)
			case !tc.ok && !errors.Is(err, ErrInvalidToken):
				t.Errorf("Verify = %q, %v; want ErrInvalidToken", id, err)
			}
		})
	}
}

// TestTokenKid: a new token names the signing secret, never a previous one,
// and the name gives nothing of the secret away.
func TestTokenKid(t *testing.T) {
	secret := []byte(strings.Repeat("n", 32))
	tk, err := NewTokens(secret, time.Hour, []byte(strings.Repeat("o", 32)))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := tk.Issue("u1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := parsed.Header["kid"].(string)
	if kid != SecretKid(secret) || len(kid) != 11 {
		t.Errorf("kid = %q, want SecretKid of the signing secret (11 characters), %q", kid, SecretKid(secret))
	}
	if strings.Contains(tok, string(secret[:8])) || strings.Contains(kid, "nnn") {
		t.Errorf("token shows the secret: %s", tok)
	}
	if SecretKid(secret) == SecretKid([]byte(strings.Repeat("o", 32))) {
		t.Error("two secrets share a kid")
	}
}

func TestNewTokensRejectsShortPrevious(t *testing.T) {
	_, err := NewTokens(testSecret, time.Hour, []byte(strings.Repeat("o", 32)), []byte("short"))
	if err == nil || !strings.Contains(err.Error(), "previous jwt secret 1") {
		t.Errorf("err = %v; want the short previous secret named", err)
	}
}
