// Package authn decides who is calling: password hashing, HS256 tokens, API
// keys, and the resolver that turns request credentials into an AuthUser.
// It knows nothing about HTTP: it takes strings and returns (AuthUser, error).
package authn

import (
	"errors"
	"time"
)

// Method says how a caller authenticated.
type Method string

const (
	MethodJWT        Method = "jwt"
	MethodCatalogJWT Method = "catalog_jwt"
	MethodAPIKey     Method = "api_key"
)

// ScopeAll grants every scope.
const ScopeAll = "*"

// tokenScopes are the scopes of every token caller. Shared by every
// AuthUser a token resolves to, so callers must not modify Scopes.
var tokenScopes = []string{ScopeAll}

// AuthUser is an authenticated caller.
type AuthUser struct {
	ID       string
	Email    string
	Name     *string
	IsAdmin  bool
	Method   Method
	APIKeyID string   // set for MethodAPIKey
	Scopes   []string // an API key's scopes; tokens carry ScopeAll. Shared with caches: never modify
	// CreatedAt is when the account was created (part of the user object).
	CreatedAt time.Time
}

// HasScope reports whether the caller holds scope, directly or through "*".
func (u AuthUser) HasScope(scope string) bool {
	for _, s := range u.Scopes {
		if s == ScopeAll || s == scope {
			return true
		}
	}
	return false
}

// Sentinel errors of authentication. The HTTP layer maps them to codes.
var (
	// ErrNoCredential: the request carries no credential of any kind.
	ErrNoCredential = errors.New("authn: no credential")
	// ErrInvalidToken: a bearer token is malformed, expired, wrongly signed,
	// or belongs to a disabled or deleted account.
	ErrInvalidToken = errors.New("authn: invalid token")
	// ErrInvalidKey: an API key is malformed, unknown, revoked, expired, or
	// belongs to a disabled account.
	ErrInvalidKey = errors.New("authn: invalid api key")
	// ErrAmbiguousCredentials: a request presents credentials of more than
	// one caller (two different tokens or keys), or a credential header in
	// a spelling other than its own (X_API_Key), which some upstreams read
	// as the real one.
	ErrAmbiguousCredentials = errors.New("authn: credentials of more than one caller")
	// ErrInsufficientScope: the caller lacks a required scope.
	ErrInsufficientScope = errors.New("authn: insufficient scope")
	// ErrBusy: too many password hashes are in progress; try again shortly.
	ErrBusy = errors.New("authn: password hashing busy")
)
