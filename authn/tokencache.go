package authn

import (
	"context"
	"crypto/sha256"
	"strings"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
	"github.com/maypok86/otter/v2"
)

// DefaultTokenCacheSize bounds the tokens a TokenCache remembers. An entry
// measures about 230 bytes of heap (the 32-byte key, the user id, the method
// and the expiry, and otter's node and policy bookkeeping), so a full cache
// of the default size holds about 23 MB.
const DefaultTokenCacheSize = 100_000

// TokenCache remembers bearer tokens (the service's own and catalog tokens)
// whose signature and claims verified, so that a token is checked
// cryptographically once per replica and not again until it expires: an
// RS256 verification costs tens of microseconds, a map lookup far less.
//
// It remembers only what verification proved, the user id and the token's
// exp, never the user: the authenticators still load the user through their
// Directory on every request, so disabling an account applies to cached
// tokens at once. A cache hit needs the exact token string (the key is its
// SHA-256), so a tampered token is always a miss.
//
// A nil *TokenCache is valid and remembers nothing.
type TokenCache struct {
	entries *otter.Cache[[32]byte, tokenEntry]
	now     func() time.Time // tests move it
}

type tokenEntry struct {
	userID string
	method Method
	iat    time.Time // zero when the token has none; checked against the user's revocation time
	exp    time.Time
}

// NewTokenCache returns a cache of at most size tokens (DefaultTokenCacheSize
// when size <= 0). Entries leave at their token's exp, or earlier when the
// cache is full.
func NewTokenCache(size int) *TokenCache {
	if size <= 0 {
		size = DefaultTokenCacheSize
	}
	c := &TokenCache{now: time.Now}
	c.entries = otter.Must(&otter.Options[[32]byte, tokenEntry]{
		MaximumSize: size,
		ExpiryCalculator: otter.ExpiryCreatingFunc(func(e otter.Entry[[32]byte, tokenEntry]) time.Duration {
			return e.Value.exp.Sub(c.now())
		}),
	})
	return c
}

// get returns the user id a token verified for, if it did so by method m and
// has not expired. The expiry is checked here too, against the same clock as
// put, so that otter's coarser clock cannot stretch a token's life.
func (c *TokenCache) get(token string, m Method) (string, bool) {
	e, ok := c.lookup(token, m)
	return e.userID, ok
}

// lookup is get with the whole entry (the token's iat too).
func (c *TokenCache) lookup(token string, m Method) (tokenEntry, bool) {
	if c == nil {
		return tokenEntry{}, false
	}
	e, ok := c.entries.GetIfPresent(tokenKey(token))
	if !ok || e.method != m || !c.now().Before(e.exp) {
		return tokenEntry{}, false
	}
	return e, true
}

// put remembers that token verified by method m for userID until exp. A
// token without a future exp is not remembered.
func (c *TokenCache) put(token string, m Method, userID string, exp time.Time) {
	c.putIssued(token, m, userID, time.Time{}, exp)
}

// putIssued is put with the token's iat, which the user's revocation time
// is compared with on every request, cached or not.
func (c *TokenCache) putIssued(token string, m Method, userID string, iat, exp time.Time) {
	if c == nil || !c.now().Before(exp) {
		return
	}
	c.entries.Set(tokenKey(token), tokenEntry{userID: userID, method: m, iat: iat, exp: exp})
}

// tokenKey is the cache key of a token: its SHA-256, so that the cache
// holds no usable credential and a key is a fixed 32 bytes.
//
// The token is hashed through a read-only view of its bytes: a copy would
// be the only allocation of a cached verification.
func tokenKey(token string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// verifyTimes is Verify that also returns the token's iat (zero when it has
// none) and exp, for the revocation check and the cache. The second,
// unverified parse reads a token that Verify has just accepted, so it
// cannot fail in practice; if it did, the zero exp only keeps the token out
// of the cache and the zero iat makes a revoked user's token refused.
func (t *Tokens) verifyTimes(token string) (userID string, iat, exp time.Time, err error) {
	userID, err = t.Verify(token)
	if err != nil {
		return "", time.Time{}, time.Time{}, err
	}
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err == nil {
		if claims.ExpiresAt != nil {
			exp = claims.ExpiresAt.Time
		}
		if claims.IssuedAt != nil {
			iat = claims.IssuedAt.Time
		}
	}
	return userID, iat, exp, nil
}

// Authenticator returns an Authenticator that answers for bearer tokens
// this cache holds, whatever verified them, and is not responsible for
// anything else. Put first in a Resolver's chain, it resolves a token seen
// before with one hash and one user lookup, before any authenticator
// decodes the token to find out whether it is theirs.
func (c *TokenCache) Authenticator(users Directory) Authenticator {
	return cachedTokens{cache: c, users: users}
}

type cachedTokens struct {
	cache *TokenCache
	users Directory
}

// Authenticate implements Authenticator.
func (a cachedTokens) Authenticate(ctx context.Context, c Credentials) (AuthUser, error) {
	tok := c.bearer()
	if tok == "" || strings.HasPrefix(tok, KeyPrefix) || a.cache == nil {
		return AuthUser{}, ErrNotResponsible
	}
	e, ok := a.cache.entries.GetIfPresent(tokenKey(tok))
	if !ok || !a.cache.now().Before(e.exp) {
		return AuthUser{}, ErrNotResponsible
	}
	u, err := tokenUser(ctx, a.users, e.userID, e.iat)
	if err != nil {
		return AuthUser{}, err
	}
	return authUser(u, e.method, "", tokenScopes), nil
}
