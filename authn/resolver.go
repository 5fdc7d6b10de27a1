package authn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zectre/zectre-auth/store"
)

// Credentials are what a request presents, as raw header values. A request
// with several credential lines presents one Credentials per line (see
// ResolveAll).
type Credentials struct {
	Authorization string // the Authorization header
	APIKey        string // the X-API-Key header
}

// bearer returns the token of a well-formed "Authorization: Bearer" header
// (RFC 6750 §2.1: the scheme in any case, one or more spaces, a b64token),
// or "".
func (c Credentials) bearer() string {
	return bearerToken(c.Authorization)
}

func bearerToken(a string) string {
	const scheme = "bearer"
	if len(a) < len(scheme)+2 || !strings.EqualFold(a[:len(scheme)], scheme) || a[len(scheme)] != ' ' {
		return ""
	}
	tok := strings.TrimLeft(a[len(scheme):], " ")
	if !isB64Token(tok) {
		return ""
	}
	return tok
}

// isB64Token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(t string) bool {
	end := len(strings.TrimRight(t, "="))
	if end == 0 {
		return false
	}
	for i := 0; i < end; i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// ErrNotResponsible is what an Authenticator answers when the request holds
// no credential of its kind; the Resolver then asks the next one.
var ErrNotResponsible = errors.New("authn: not responsible")

// Authenticator checks one kind of credential. It answers with the caller,
// with ErrNotResponsible, or with a final error (the credential is bad).
type Authenticator interface {
	Authenticate(ctx context.Context, c Credentials) (AuthUser, error)
}

// Directory is the lookup an authenticator needs: store.Store satisfies it,
// and a cache in front of the store can too.
type Directory interface {
	UserByID(ctx context.Context, id string) (store.User, error)
	APIKeyByDigest(ctx context.Context, digest [32]byte) (store.APIKey, error)
}

// UsageRecorder learns of every successful API key use (for last_used_at).
type UsageRecorder interface {
	Used(keyID string, at time.Time)
}

// Resolver asks its authenticators in order; the first that does not answer
// ErrNotResponsible decides.
type Resolver struct {
	chain []Authenticator
}

// NewResolver returns a Resolver over chain.
func NewResolver(chain ...Authenticator) *Resolver {
	return &Resolver{chain: chain}
}

// Resolve returns the caller, ErrNoCredential when no credential is present,
// or the deciding authenticator's error. An Authorization header that is
// not a well-formed bearer token ("Bearer" alone, "Bearer,tok", a tab for
// the space, another scheme) is ErrInvalidToken: a credential was presented
// and nobody can verify it, so it is never read as no credential at all.
func (r *Resolver) Resolve(ctx context.Context, c Credentials) (AuthUser, error) {
	if c.Authorization != "" && c.bearer() == "" {
		return AuthUser{}, fmt.Errorf("%w: the Authorization header is not a bearer token", ErrInvalidToken)
	}
	for _, a := range r.chain {
		u, err := a.Authenticate(ctx, c)
		if errors.Is(err, ErrNotResponsible) {
			continue
		}
		return u, err
	}
	return AuthUser{}, ErrNoCredential
}

// TokenAuthenticator accepts the service's own HS256 bearer tokens. With a
// CatalogAuthenticator in the chain, put that one first: it takes the
// catalog's tokens and leaves every other bearer token to this one.
type TokenAuthenticator struct {
	Tokens *Tokens
	Users  Directory
	// Cache, when set, spares a token seen before its signature check until
	// it expires; the user is still loaded on every request.
	Cache *TokenCache
}

// Authenticate implements Authenticator.
func (a TokenAuthenticator) Authenticate(ctx context.Context, c Credentials) (AuthUser, error) {
	tok := c.bearer()
	if tok == "" || strings.HasPrefix(tok, KeyPrefix) {
		return AuthUser{}, ErrNotResponsible
	}
	id, iat, err := a.verify(tok)
	if err != nil {
		return AuthUser{}, err
	}
	u, err := tokenUser(ctx, a.Users, id, iat)
	if err != nil {
		return AuthUser{}, err
	}
	return authUser(u, MethodJWT, "", tokenScopes), nil
}

// verify returns the user id tok was issued to and its iat, from the cache
// when it verified before.
func (a TokenAuthenticator) verify(tok string) (string, time.Time, error) {
	if e, ok := a.Cache.lookup(tok, MethodJWT); ok {
		return e.userID, e.iat, nil
	}
	id, iat, exp, err := a.Tokens.verifyTimes(tok)
	if err != nil {
		return "", time.Time{}, err
	}
	a.Cache.putIssued(tok, MethodJWT, id, iat, exp)
	return id, iat, nil
}

// KeyAuthenticator accepts API keys from X-API-Key, or from a bearer token
// that has the key prefix (a convenience for clients that only speak bearer).
type KeyAuthenticator struct {
	Keys  Directory
	Usage UsageRecorder    // may be nil
	Now   func() time.Time // defaults to time.Now
}

// Authenticate implements Authenticator.
func (a KeyAuthenticator) Authenticate(ctx context.Context, c Credentials) (AuthUser, error) {
	raw := c.APIKey
	if raw == "" {
		if tok := c.bearer(); strings.HasPrefix(tok, KeyPrefix) {
			raw = tok
		}
	}
	if raw == "" {
		return AuthUser{}, ErrNotResponsible
	}
	digest, err := ParseKey(raw)
	if err != nil {
		return AuthUser{}, err
	}
	k, err := a.Keys.APIKeyByDigest(ctx, digest)
	if errors.Is(err, store.ErrNotFound) {
		return AuthUser{}, fmt.Errorf("%w: unknown or revoked key", ErrInvalidKey)
	}
	if err != nil {
		return AuthUser{}, err
	}
	var now time.Time
	if a.Now != nil {
		now = a.Now()
	} else {
		now = time.Now()
	}
	if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return AuthUser{}, fmt.Errorf("%w: key expired", ErrInvalidKey)
	}
	u, err := activeUser(ctx, a.Keys, k.UserID, ErrInvalidKey)
	if err != nil {
		return AuthUser{}, err
	}
	if a.Usage != nil {
		a.Usage.Used(k.ID, now)
	}
	return authUser(u, MethodAPIKey, k.ID, k.Scopes), nil
}

// activeUser loads a credential's user; a deleted or disabled user makes the
// credential invalid (invalid is the sentinel of the credential's kind).
func activeUser(ctx context.Context, d Directory, id string, invalid error) (store.User, error) {
	u, err := d.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("%w: user no longer exists", invalid)
	}
	if err != nil {
		return store.User{}, err
	}
	if u.Disabled {
		return store.User{}, fmt.Errorf("%w: account disabled", invalid)
	}
	return u, nil
}

// tokenUser is activeUser for a bearer token issued at iat: a token issued
// before the user's revocation time (log out everywhere, a password change)
// is invalid, and so is one without iat once any was revoked, since nothing
// shows it is newer. The time comes with the user record every request
// loads anyway, so the check costs a comparison.
func tokenUser(ctx context.Context, d Directory, id string, iat time.Time) (store.User, error) {
	u, err := activeUser(ctx, d, id, ErrInvalidToken)
	if err != nil {
		return store.User{}, err
	}
	if revoked(u, iat) {
		return store.User{}, fmt.Errorf("%w: token revoked", ErrInvalidToken)
	}
	return u, nil
}

// revoked reports whether a token of u issued at iat predates u's
// revocation time (whole seconds, like iat).
func revoked(u store.User, iat time.Time) bool {
	return !u.TokensValidAfter.IsZero() && iat.Before(u.TokensValidAfter)
}

func authUser(u store.User, m Method, keyID string, scopes []string) AuthUser {
	return AuthUser{
		ID: u.ID, Email: u.Email, Name: u.Name, IsAdmin: u.IsAdmin, CreatedAt: u.CreatedAt,
		Method: m, APIKeyID: keyID, Scopes: scopes,
	}
}
