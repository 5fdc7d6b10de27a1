package authn

import "strings"

// What may be said of a presented credential before, or without, resolving
// it: for the audit lines, which must name the attempt but never hold the
// secret. Both read the key format, so they live with it.

// Kind is the kind of credential c presents: "api_key" (in X-API-Key, or a
// bearer token with the key prefix), "bearer" (a token not yet known to be
// an own or a catalog token), or "" for none. Resolving names the method
// exactly; Kind is what a refused credential is known by.
func (c Credentials) Kind() string {
	switch tok := c.bearer(); {
	case c.APIKey != "" || strings.HasPrefix(tok, KeyPrefix):
		return string(MethodAPIKey)
	case tok != "":
		return "bearer"
	}
	return ""
}

// KeyPrefixOf is the public prefix of the API key c presents (in X-API-Key,
// or as a bearer token with the key prefix), for audit lines; "" when there
// is none. Only the 8 characters shown in key listings are returned, and
// only when they look like a key's, so a mistyped secret is not logged.
func KeyPrefixOf(c Credentials) string {
	k := c.APIKey
	if k == "" {
		k = c.bearer()
	}
	if len(k) < apiKeyPrefixLen || k[:len(KeyPrefix)] != KeyPrefix {
		return ""
	}
	for i := len(KeyPrefix); i < apiKeyPrefixLen; i++ {
		if !isBase62(k[i]) {
			return ""
		}
	}
	return k[:apiKeyPrefixLen]
}
