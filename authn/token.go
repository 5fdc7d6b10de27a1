package authn

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultTokenTTL is how long a login token lives (the zectre-api contract).
const DefaultTokenTTL = 7 * 24 * time.Hour

// MaxTokenLength caps a bearer token in bytes; longer ones are rejected
// before parsing (CVE-2025-30204 was a dot flood in the parser).
const MaxTokenLength = 8192

// TokenIssuer is the iss claim of every token this service issues and the
// only one it accepts (a token without iss is accepted: see Verify).
const TokenIssuer = "zectre-auth"

// minSecretLen is the shortest HS256 secret accepted, in bytes (RFC 7518
// §3.2: a key at least as long as the hash output).
const minSecretLen = 32

// tokenLeeway absorbs clock skew between replicas for exp and iat.
const tokenLeeway = 5 * time.Second

// Tokens issues and verifies the service's own HS256 bearer tokens.
type Tokens struct {
	secret []byte
	ttl    time.Duration
	parser *jwt.Parser
	now    func() time.Time // the verification clock; tests move it
}

// NewTokens returns Tokens signing with secret (at least 32 bytes) and
// issuing tokens valid for ttl.
func NewTokens(secret []byte, ttl time.Duration) (*Tokens, error) {
	if len(secret) < minSecretLen {
		return nil, fmt.Errorf("authn: jwt secret must be at least %d bytes, got %d", minSecretLen, len(secret))
	}
	if ttl <= 0 {
		return nil, errors.New("authn: token ttl must be positive")
	}
	t := &Tokens{secret: append([]byte(nil), secret...), ttl: ttl, now: time.Now}
	// One parser, built once: HS256 only, so a token whose header names any
	// other algorithm (none, RS256 with our secret as "public key", HS512)
	// is refused before the key is even looked at.
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(tokenLeeway),
		// Canonical base64 only, so a token has exactly one accepted spelling.
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(func() time.Time { return t.now() }),
	)
	return t, nil
}

// Issue returns a token for userID, valid from now for the configured TTL,
// and its expiry. expiresAt equals the token's exp claim exactly (whole
// seconds, UTC).
func (t *Tokens) Issue(userID string, now time.Time) (token string, expiresAt time.Time, err error) {
	if userID == "" {
		return "", time.Time{}, errors.New("authn: issue token: empty user id")
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("authn: issue token: %w", err)
	}
	issuedAt := now.Truncate(time.Second).UTC()
	expiresAt = now.Add(t.ttl).Truncate(time.Second).UTC()
	claims := jwt.RegisteredClaims{
		Issuer:    TokenIssuer,
		Subject:   userID,
		IssuedAt:  jwt.NewNumericDate(issuedAt),
		ExpiresAt: jwt.NewNumericDate(expiresAt),
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
	}
	token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("authn: issue token: %w", err)
	}
	return token, expiresAt, nil
}

// Verify checks token (signature, algorithm, no crit header, exp, iat and
// nbf as JSON numbers, sub, and iss when present) and returns
// the user id it was issued to. Every failure wraps ErrInvalidToken; it does
// not look at whether the user still exists or is enabled.
func (t *Tokens) Verify(token string) (userID string, err error) {
	if len(token) > MaxTokenLength {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenLength)
	}
	var claims jwt.RegisteredClaims
	_, err = t.parser.ParseWithClaims(token, &claims, t.key)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := checkJOSE(token); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if claims.Subject == "" {
		return "", fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	// Tokens signed with the shared secret by another zectre service may
	// carry no issuer; one that names an issuer must name this service.
	if claims.Issuer != "" && claims.Issuer != TokenIssuer {
		return "", fmt.Errorf("%w: issuer is not %s", ErrInvalidToken, TokenIssuer)
	}
	return claims.Subject, nil
}

// key hands the parser the HMAC secret. The parser has already refused any
// algorithm but HS256; the check here keeps that true should the options
// ever change.
func (t *Tokens) key(tok *jwt.Token) (any, error) {
	if tok.Method != jwt.SigningMethodHS256 {
		return nil, fmt.Errorf("unexpected signing method %v", tok.Header["alg"])
	}
	return t.secret, nil
}
