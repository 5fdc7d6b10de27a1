// Package identity mints the signed identity assertion the edge attaches to
// what it forwards (X-Zectre-Identity): an EdDSA (Ed25519) JWT an upstream
// verifies against the service's JWKS (package identity/verify), so that it
// need not trust the network to believe the X-Zectre-* headers.
package identity

import (
	"crypto/ed25519"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/zectre/zectre-auth/authn"
)

// Header is the request (and forward-auth answer) header of the assertion.
const Header = "X-Zectre-Identity"

// Defaults and bounds of Options.TTL (config identity_ttl).
const (
	DefaultTTL      = 60 * time.Second
	MinTTL          = 10 * time.Second
	MaxTTL          = 10 * time.Minute
	DefaultAudience = "zectre-upstream"
)

// maxCached bounds the assertion cache; past it the cache starts afresh,
// which costs one signature per identity and bounds memory under a flood of
// distinct callers.
const maxCached = 10000

// Options configure NewSigner.
type Options struct {
	Key      ed25519.PrivateKey  // signs; required
	Previous []ed25519.PublicKey // published, never used to sign
	Issuer   string              // iss: the service's public URL
	Audience string              // aud; "" is DefaultAudience
	TTL      time.Duration       // 0 is DefaultTTL
	Now      func() time.Time    // nil is time.Now
}

// Signer mints assertions and publishes the JWKS. Safe for concurrent use.
type Signer struct {
	key      ed25519.PrivateKey
	kid      string
	iss, aud string
	ttl      time.Duration
	now      func() time.Time
	jwks     []byte

	mu    sync.RWMutex
	cache map[cacheKey]*entry
}

// cacheKey names an identity; the rest of what the assertion says (email,
// admin, scopes) is compared on a hit, so that a changed user gets a new
// assertion at once.
type cacheKey struct {
	user, keyID string
	method      authn.Method
}

type entry struct {
	token     []byte
	refreshAt time.Time // half its life: reused until then
	email     string
	admin     bool
	scopes    []string
}

// NewSigner checks o and renders the JWKS once.
func NewSigner(o Options) (*Signer, error) {
	if len(o.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("identity: an Ed25519 signing key is required")
	}
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.TTL < MinTTL || o.TTL > MaxTTL {
		return nil, errors.New("identity: ttl must be between 10s and 10m")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	pub := o.Key.Public().(ed25519.PublicKey)
	pubs := []ed25519.PublicKey{pub}
	for _, p := range o.Previous {
		if !slices.ContainsFunc(pubs, func(q ed25519.PublicKey) bool { return q.Equal(p) }) {
			pubs = append(pubs, p)
		}
	}
	return &Signer{
		key: o.Key, kid: KeyID(pub), iss: o.Issuer, aud: o.Audience, ttl: o.TTL, now: o.Now,
		jwks: jwksDocument(pubs), cache: map[cacheKey]*entry{},
	}, nil
}

// JWKS is the public keys' document, the signing key first. Never modify it.
func (s *Signer) JWKS() []byte { return s.jwks }

// KeyID names the signing key (the kid of every assertion).
func (s *Signer) KeyID() string { return s.kid }

// Claims are the assertion's claims.
type Claims struct {
	Email      string       `json:"email"`
	Admin      bool         `json:"admin"`
	AuthMethod authn.Method `json:"auth_method"`
	KeyID      string       `json:"key_id,omitempty"`
	Scopes     []string     `json:"scopes"`
	jwt.RegisteredClaims
}

// Assertion returns the assertion of u: the cached one while more than half
// its life is left, else a new one. The result is shared: never modify it.
// u is taken by value, so that the caller's record stays on its stack.
func (s *Signer) Assertion(u authn.AuthUser) ([]byte, error) {
	k := cacheKey{user: u.ID, keyID: u.APIKeyID, method: u.Method}
	now := s.now()
	s.mu.RLock()
	e := s.cache[k]
	s.mu.RUnlock()
	if e != nil && now.Before(e.refreshAt) && e.email == u.Email && e.admin == u.IsAdmin && slices.Equal(e.scopes, u.Scopes) {
		return e.token, nil
	}
	tok, err := s.mint(&u, now)
	if err != nil {
		return nil, err
	}
	e = &entry{token: tok, refreshAt: now.Add(s.ttl / 2), email: u.Email, admin: u.IsAdmin, scopes: u.Scopes}
	s.mu.Lock()
	if len(s.cache) >= maxCached {
		clear(s.cache)
	}
	s.cache[k] = e
	s.mu.Unlock()
	return tok, nil
}

func (s *Signer) mint(u *authn.AuthUser, now time.Time) ([]byte, error) {
	scopes := u.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	c := Claims{
		Email: u.Email, Admin: u.IsAdmin, AuthMethod: u.Method, KeyID: u.APIKeyID, Scopes: scopes,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.iss, Subject: u.ID, Audience: jwt.ClaimStrings{s.aud},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(s.ttl)),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = s.kid
	str, err := t.SignedString(s.key)
	if err != nil {
		return nil, err
	}
	return []byte(str), nil
}
