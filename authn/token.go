package authn

import (
	"crypto/rand"
	"crypto/sha256"
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
	secret []byte // signs every new token
	kid    string // names secret in the header of every new token
	// byKid holds every secret that verifies (the signing one and the
	// previous ones) under its kid; all holds them in order for tokens
	// issued without a kid.
	byKid  map[string][]byte
	all    jwt.VerificationKeySet
	ttl    time.Duration
	parser *jwt.Parser
	now    func() time.Time // the verification clock; tests move it
}

// SecretKid names an HS256 secret in a token's kid header without revealing
// it: the first 8 bytes of its SHA-256, base64url (11 characters). A
// one-way digest of a secret of at least 32 bytes gives nothing away, and
// 64 bits keep two configured secrets from sharing a name.
func SecretKid(secret []byte) string {
	sum := sha256.Sum256(secret)
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// NewTokens returns Tokens signing with secret and issuing tokens valid for
// ttl. Tokens signed with any of previous still verify, so that a secret
// can be rotated without logging anybody out; each secret is at least 32
// bytes.
func NewTokens(secret []byte, ttl time.Duration, previous ...[]byte) (*Tokens, error) {
	if len(secret) < minSecretLen {
		return nil, fmt.Errorf("authn: jwt secret must be at least %d bytes, got %d", minSecretLen, len(secret))
	}
	if ttl <= 0 {
		return nil, errors.New("authn: token ttl must be positive")
	}
	t := &Tokens{secret: append([]byte(nil), secret...), kid: SecretKid(secret), ttl: ttl, now: time.Now,
		byKid: map[string][]byte{}}
	t.byKid[t.kid] = t.secret
	t.all.Keys = append(t.all.Keys, t.secret)
	for i, p := range previous {
		if len(p) < minSecretLen {
			return nil, fmt.Errorf("authn: previous jwt secret %d must be at least %d bytes, got %d", i, minSecretLen, len(p))
		}
		kid := SecretKid(p)
		if _, dup := t.byKid[kid]; dup {
			continue // listed twice, or the signing secret again: one is enough
		}
		p = append([]byte(nil), p...)
		t.byKid[kid] = p
		t.all.Keys = append(t.all.Keys, p)
	}
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
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = t.kid
	token, err = tok.SignedString(t.secret)
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

// errUnknownKid refuses a token naming a secret this service does not hold
// (retired, or another deployment's): trying the others would only cost time.
var errUnknownKid = errors.New("kid names no configured secret")

// key hands the parser the HMAC secret the token's kid names, or, for a
// token without kid (issued before tokens carried one), every secret to try
// in turn. The parser has already refused any algorithm but HS256; the
// check here keeps that true should the options ever change.
func (t *Tokens) key(tok *jwt.Token) (any, error) {
	if tok.Method != jwt.SigningMethodHS256 {
		return nil, fmt.Errorf("unexpected signing method %v", tok.Header["alg"])
	}
	raw, ok := tok.Header["kid"]
	if !ok {
		if len(t.all.Keys) == 1 {
			return t.secret, nil
		}
		return t.all, nil
	}
	kid, _ := raw.(string)
	if secret, ok := t.byKid[kid]; ok {
		return secret, nil
	}
	return nil, errUnknownKid
}
