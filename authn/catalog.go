package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/zectre/zectre-auth/store"
)

// ErrSubjectConflict: a catalog token is the first sight of its subject, and
// its email belongs to a local account that is not linked to that subject.
// The account is not linked by email: the catalog's email claim may be
// unverified, and linking on it would hand the account to whoever can put
// that email into a catalog profile.
var ErrSubjectConflict = errors.New("authn: catalog email belongs to another account")

// SubjectDirectory is what the catalog authenticator needs: the user lookups
// of Directory and the links from catalog subjects to local users.
// store.Store satisfies it, and so does a cache that embeds one.
type SubjectDirectory interface {
	Directory
	UserBySubject(ctx context.Context, issuer, subject string) (store.User, error)
	LinkSubject(ctx context.Context, issuer, subject string, u store.User) (store.User, error)
}

// CatalogOptions configure a CatalogAuthenticator. Zero values take the
// defaults named on each field.
type CatalogOptions struct {
	// JWKSURL is zectre-catalog's JWKS URL, http or https (required).
	JWKSURL string
	// Issuer, when set, is the iss every catalog token must carry.
	Issuer string
	// Audience, when set, must be among every catalog token's aud.
	Audience string
	// Users finds and links the local users of catalog subjects (required).
	Users SubjectDirectory
	// Cache, when set, spares a token seen before its signature check
	// until it expires. Share one with the TokenAuthenticator.
	Cache *TokenCache
	// Logger receives JWKS fetch failures and the start-up state;
	// default slog.Default().
	Logger *slog.Logger
	// RefreshInterval is how often the JWKS is fetched in the background;
	// default DefaultJWKSRefreshInterval (5 min).
	RefreshInterval time.Duration
	// UnknownKIDInterval and UnknownKIDBurst limit the fetches caused by
	// tokens that name an unknown kid; defaults DefaultUnknownKIDInterval
	// (10 s) and DefaultUnknownKIDBurst (2).
	UnknownKIDInterval time.Duration
	UnknownKIDBurst    int
	// HTTPTimeout bounds one JWKS fetch, the first one at start included;
	// default DefaultJWKSTimeout (5 s).
	HTTPTimeout time.Duration
	// OnRefresh, when set, learns of every JWKS fetch, the first one and
	// those caused by unknown kids included: keys is how many keys the
	// fetched set holds (err nil), or err says why the fetch failed (keys
	// 0; the last good keys stay in use). For metrics; it must not block.
	OnRefresh func(keys int, err error)
}

// catalogLeeway absorbs clock skew between the catalog and this service for
// exp, nbf and iat: another machine, so a little more than tokenLeeway.
const catalogLeeway = 30 * time.Second

// Bounds on the identity claims, so that what is stored stays small and
// printable (PostgreSQL refuses NUL in text, an index entry has a size limit).
const (
	maxSubjectBytes = 512 // sub, and iss
)

// maxHeaderSegment bounds the unverified header that is decoded to decide
// whose token it is; real headers are well under 200 bytes.
const maxHeaderSegment = 1024

// CatalogAuthenticator accepts bearer tokens issued by zectre-catalog,
// verified with the keys of its JWKS, and resolves them to local users,
// linking a subject to a new local user the first time it is seen.
//
// Both the catalog's tokens and the service's own are bearer JWTs. Which
// authenticator answers is decided from the token's unverified header: an
// asymmetric alg (RS*, PS*, ES*, EdDSA) is the catalog's, anything else
// (HS256, none, garbage) is left to the TokenAuthenticator, which must come
// after this one in the chain. The header only routes the token: each side
// verifies with its own pinned algorithms and keys, so a forged header can
// only send a token to a verifier that refuses it. Without a configured
// catalog, leave it out of the chain (a nil *CatalogAuthenticator is never
// responsible) and the TokenAuthenticator refuses catalog tokens.
type CatalogAuthenticator struct {
	keys   *jwksKeys
	parser *jwt.Parser
	users  SubjectDirectory
	cache  *TokenCache
	now    func() time.Time
}

// NewCatalogAuthenticator validates o and fetches the JWKS, waiting at most
// o.HTTPTimeout for it: when the catalog is unreachable it starts with no
// keys, logs that, and keeps trying (see DefaultUnknownKIDInterval). ctx
// bounds the background refresh, as does Close.
func NewCatalogAuthenticator(ctx context.Context, o CatalogOptions) (*CatalogAuthenticator, error) {
	if o.Users == nil {
		return nil, errors.New("authn: catalog authenticator needs a user directory")
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = DefaultJWKSRefreshInterval
	}
	if o.UnknownKIDInterval <= 0 {
		o.UnknownKIDInterval = DefaultUnknownKIDInterval
	}
	if o.UnknownKIDBurst <= 0 {
		o.UnknownKIDBurst = DefaultUnknownKIDBurst
	}
	if o.HTTPTimeout <= 0 {
		o.HTTPTimeout = DefaultJWKSTimeout
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	a := &CatalogAuthenticator{users: o.Users, cache: o.Cache, now: time.Now}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(catalogAlgs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(catalogLeeway),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(func() time.Time { return a.now() }),
	}
	if o.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(o.Issuer))
	}
	if o.Audience != "" {
		opts = append(opts, jwt.WithAudience(o.Audience))
	}
	a.parser = jwt.NewParser(opts...)
	keys, err := newJWKSKeys(ctx, o, log)
	if err != nil {
		return nil, err
	}
	a.keys = keys
	return a, nil
}

// Close stops the background JWKS refresh.
func (a *CatalogAuthenticator) Close() error {
	if a != nil {
		a.keys.close()
	}
	return nil
}

// Authenticate implements Authenticator. Errors wrap ErrInvalidToken, except
// ErrSubjectConflict and failures of the directory itself.
func (a *CatalogAuthenticator) Authenticate(ctx context.Context, c Credentials) (AuthUser, error) {
	if a == nil {
		return AuthUser{}, ErrNotResponsible
	}
	tok := c.bearer()
	if tok == "" || strings.HasPrefix(tok, KeyPrefix) {
		return AuthUser{}, ErrNotResponsible
	}
	if e, ok := a.cache.lookup(tok, MethodCatalogJWT); ok {
		u, err := tokenUser(ctx, a.users, e.userID, e.iat)
		if err != nil {
			return AuthUser{}, err
		}
		return authUser(u, MethodCatalogJWT, "", tokenScopes), nil
	}
	if !slices.Contains(catalogAlgs, headerAlg(tok)) {
		return AuthUser{}, ErrNotResponsible
	}
	ident, err := a.verify(ctx, tok)
	if err != nil {
		return AuthUser{}, err
	}
	u, err := a.linkedUser(ctx, ident)
	if err != nil {
		return AuthUser{}, err
	}
	// The link is settled, so what is cached (the user id) holds even if the
	// account is disabled now; the status is checked on every request.
	a.cache.putIssued(tok, MethodCatalogJWT, u.ID, ident.iat, ident.exp)
	if u.Disabled {
		return AuthUser{}, fmt.Errorf("%w: account disabled", ErrInvalidToken)
	}
	if revoked(u, ident.iat) {
		return AuthUser{}, fmt.Errorf("%w: token revoked", ErrInvalidToken)
	}
	return authUser(u, MethodCatalogJWT, "", tokenScopes), nil
}

// catalogClaims are the claims a catalog token is read into. Name is any
// because a name that is not a string is ignored, not an error.
type catalogClaims struct {
	jwt.RegisteredClaims
	Email string `json:"email"`
	Name  any    `json:"name"`
}

// catalogIdentity is what a verified catalog token says about its bearer.
type catalogIdentity struct {
	issuer, subject, email string
	name                   *string
	iat, exp               time.Time // iat zero when the token has none
}

// verify checks a catalog token: length, algorithm pinned to the key its kid
// names, signature, no crit header, exp (required), iat, nbf (JSON numbers
// all), iss and aud when configured, and the identity claims.
func (a *CatalogAuthenticator) verify(ctx context.Context, tok string) (catalogIdentity, error) {
	if len(tok) > MaxTokenLength {
		return catalogIdentity{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenLength)
	}
	var claims catalogClaims
	if _, err := a.parser.ParseWithClaims(tok, &claims, a.keys.keyfunc(ctx)); err != nil {
		return catalogIdentity{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := checkJOSE(tok); err != nil {
		return catalogIdentity{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	ident, err := identityOf(&claims)
	if err != nil {
		return catalogIdentity{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return ident, nil
}

func identityOf(c *catalogClaims) (catalogIdentity, error) {
	if c.Subject == "" {
		return catalogIdentity{}, errors.New("no subject")
	}
	if !identityClaim(c.Subject) || !identityClaim(c.Issuer) {
		return catalogIdentity{}, errors.New("subject or issuer too long or not printable")
	}
	email, ok := store.NormalizeEmail(c.Email)
	if !ok {
		return catalogIdentity{}, errors.New("no valid email claim")
	}
	ident := catalogIdentity{
		issuer: c.Issuer, subject: c.Subject, email: email,
		name: catalogName(c.Name), exp: c.ExpiresAt.Time, // exp is required by the parser
	}
	if c.IssuedAt != nil {
		ident.iat = c.IssuedAt.Time
	}
	return ident, nil
}

// linkedUser returns the local user of a catalog identity, creating and
// linking it on first sight.
func (a *CatalogAuthenticator) linkedUser(ctx context.Context, id catalogIdentity) (store.User, error) {
	u, err := a.users.UserBySubject(ctx, id.issuer, id.subject)
	if !errors.Is(err, store.ErrNotFound) {
		return u, err
	}
	// No password hash: a linked user signs in through the catalog only.
	u, err = a.users.LinkSubject(ctx, id.issuer, id.subject, store.User{
		Email: id.email, Name: id.name, CreatedAt: a.now().UTC(),
	})
	if errors.Is(err, store.ErrEmailExists) {
		return store.User{}, fmt.Errorf("%w: the token's email is registered to an account not linked to its subject", ErrSubjectConflict)
	}
	return u, err
}

// headerAlg returns the alg of a token's unverified header, or "". It only
// routes the token to an authenticator; nothing here is trusted.
func headerAlg(tok string) string {
	seg, _, ok := strings.Cut(tok, ".")
	if !ok || len(seg) > maxHeaderSegment {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return ""
	}
	return h.Alg
}

// identityClaim reports whether an iss or sub value can be stored as is.
func identityClaim(s string) bool {
	// Bounded in bytes (an index entry's limit), so within Printable's
	// bound in code points too.
	return len(s) <= maxSubjectBytes && store.Printable(s, maxSubjectBytes)
}

// catalogName keeps a name claim that signup would accept; any other value
// leaves the name unset rather than refusing the token.
func catalogName(v any) *string {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	s = strings.TrimSpace(s)
	if s == "" || !store.Printable(s, store.MaxUserNameLength) {
		return nil
	}
	return &s
}
