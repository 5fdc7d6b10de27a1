package authn

import (
	"errors"
	"strings"
)

// MaxScopeLength bounds a scope, in bytes.
const MaxScopeLength = 64

// Why a scope is refused (ValidScope).
var (
	// ErrScopeSyntax: not 1 to MaxScopeLength of a-z 0-9 : . _ * -.
	ErrScopeSyntax = errors.New("authn: a scope is 1 to 64 of a-z 0-9 : . _ * -")
	// ErrScopeWildcard: a '*' inside a longer scope ("apps:*", "*:read").
	// Only the whole scope "*" (ScopeAll) matches anything (HasScope
	// compares scopes exactly); a key holding "apps:*" would look as if it
	// could do everything under apps and be refused all of it, so such a
	// scope is refused where it is given, not silently kept.
	ErrScopeWildcard = errors.New("authn: * is only valid alone")
)

// ValidScope checks one scope as an API key or a route rule may name it:
// 1 to 64 of a-z 0-9 : . _ * -, and '*' only as the whole scope. It is the
// one rule for both, so that a route can only ask for scopes a key can
// hold.
func ValidScope(s string) error {
	if s == "" || len(s) > MaxScopeLength || strings.ContainsFunc(s, func(r rune) bool { return !scopeRune(r) }) {
		return ErrScopeSyntax
	}
	if s != ScopeAll && strings.ContainsRune(s, '*') {
		return ErrScopeWildcard
	}
	return nil
}

func scopeRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(":._*-", r)
}
