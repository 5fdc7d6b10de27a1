// Package verify checks the X-Zectre-Identity assertion that zectre-auth
// attaches to what it forwards, for upstreams written in Go. It depends on
// the standard library and golang-jwt only, so an upstream imports it
// without the server.
//
//	v, err := verify.New(verify.Options{
//		JWKSURL: "http://auth.internal:47080/.well-known/jwks.json",
//		Issuer:  "http://auth.internal:47080",
//	})
//	http.Handle("/", v.Middleware(app))
//	// in app: id, _ := verify.FromContext(r.Context())
package verify

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Header carries the assertion.
const Header = "X-Zectre-Identity"

// DefaultAudience is the aud zectre-auth puts in assertions unless
// identity_audience says otherwise.
const DefaultAudience = "zectre-upstream"

// Defaults of Options.
const (
	// DefaultRefresh is how long a fetched JWKS is used before it is fetched
	// again; the service serves it cacheable for 5 minutes.
	DefaultRefresh = 5 * time.Minute
	// DefaultMinRefetch bounds refetches on an unknown kid: a rotated key is
	// found at once, a flood of made-up kids costs one fetch per interval.
	DefaultMinRefetch = 10 * time.Second
	// DefaultLeeway tolerates clock skew between the service and upstream.
	DefaultLeeway = 5 * time.Second
)

// maxJWKSBytes bounds the JWKS document read.
const maxJWKSBytes = 1 << 20

// Errors of Verify. Every refusal wraps ErrInvalid.
var (
	ErrMissing = errors.New("verify: no identity assertion")
	ErrInvalid = errors.New("verify: invalid identity assertion")
)

// Options configure New.
type Options struct {
	// JWKSURL is the service's /.well-known/jwks.json. Required.
	JWKSURL string
	// Issuer is the service's public URL (its public_url). Required.
	Issuer string
	// Audience is the expected aud; "" is DefaultAudience.
	Audience string
	// Client fetches the JWKS; nil is a client with a 10 s timeout.
	Client *http.Client
	// Refresh, MinRefetch, Leeway: 0 is the default of each.
	Refresh, MinRefetch, Leeway time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Identity is a verified assertion's content.
type Identity struct {
	UserID     string    `json:"-"` // sub
	Email      string    `json:"email"`
	Admin      bool      `json:"admin"`
	AuthMethod string    `json:"auth_method"` // jwt, catalog_jwt or api_key
	KeyID      string    `json:"key_id,omitempty"`
	Scopes     []string  `json:"scopes"`
	Expires    time.Time `json:"-"`
}

// HasScope reports whether the caller holds scope, directly or through "*".
func (id *Identity) HasScope(scope string) bool {
	for _, s := range id.Scopes {
		if s == "*" || s == scope {
			return true
		}
	}
	return false
}

// Verifier checks assertions. Safe for concurrent use.
type Verifier struct {
	o      Options
	parser *jwt.Parser

	mu      sync.Mutex
	keys    map[string]ed25519.PublicKey
	fetched time.Time // last successful fetch
	tried   time.Time // last attempt
}

// New checks o; the JWKS is fetched on the first Verify.
func New(o Options) (*Verifier, error) {
	if o.JWKSURL == "" || o.Issuer == "" {
		return nil, errors.New("verify: JWKSURL and Issuer are required")
	}
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	if o.MinRefetch <= 0 {
		o.MinRefetch = DefaultMinRefetch
	}
	if o.Leeway <= 0 {
		o.Leeway = DefaultLeeway
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(o.Issuer), jwt.WithAudience(o.Audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(o.Leeway), jwt.WithTimeFunc(o.Now),
	)
	return &Verifier{o: o, parser: p}, nil
}

type claims struct {
	Identity
	jwt.RegisteredClaims
}

// Verify checks an assertion: EdDSA, signed by a published key named by its
// kid, from Issuer, for Audience, not expired.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, error) {
	if token == "" {
		return nil, ErrMissing
	}
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid")
		}
		return v.key(ctx, kid)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: no subject", ErrInvalid)
	}
	id := c.Identity
	id.UserID = c.Subject
	id.Expires = c.ExpiresAt.Time
	return &id, nil
}

// key returns the public key named kid, fetching the JWKS when it is stale
// or does not know kid (at most once per MinRefetch).
func (v *Verifier) key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.o.Now()
	k, ok := v.keys[kid]
	stale := now.Sub(v.fetched) >= v.o.Refresh
	if (ok && !stale) || now.Sub(v.tried) < v.o.MinRefetch {
		if ok {
			return k, nil
		}
		return nil, errors.New("unknown kid")
	}
	v.tried = now
	keys, err := v.fetch(ctx)
	if err != nil {
		if ok { // keep using what was fetched before
			return k, nil
		}
		return nil, err
	}
	v.keys, v.fetched = keys, now
	if k, ok = keys[kid]; !ok {
		return nil, errors.New("unknown kid")
	}
	return k, nil
}

func (v *Verifier) fetch(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.o.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	res, err := v.o.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: status %d", res.StatusCode)
	}
	var doc struct {
		Keys []struct {
			Kty, Crv, X, Kid, Alg string
		} `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, maxJWKSBytes)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range doc.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Kid == "" || (k.Alg != "" && k.Alg != "EdDSA") {
			continue // not ours to use
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		keys[k.Kid] = ed25519.PublicKey(x)
	}
	return keys, nil
}
