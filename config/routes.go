package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/zectre/zectre-auth/authn"
)

// route checks one [[routes]] entry; problems are named routes[i].field.
func (v *validator) route(i int, r Route) {
	key := func(field string) string { return fmt.Sprintf("routes[%d].%s", i, field) }
	if err := checkPattern(r.Path); err != nil {
		v.add(key("path"), "%v", err)
	}
	for j, m := range r.Methods {
		if !isMethod(m) {
			v.add(fmt.Sprintf("%s[%d]", key("methods"), j), "%q is not an uppercase HTTP method", m)
		}
	}
	v.authMode(key("auth"), r.Auth)
	for j, s := range r.Scopes {
		switch err := authn.ValidScope(s); {
		case errors.Is(err, authn.ErrScopeWildcard):
			v.add(fmt.Sprintf("%s[%d]", key("scopes"), j),
				"%q: \"*\" is only valid alone (it matches every scope; name each scope otherwise), so no API key could hold it", s)
		case err != nil:
			v.add(fmt.Sprintf("%s[%d]", key("scopes"), j),
				"%q is not a scope (1 to 64 of a-z 0-9 : . _ * -), so no API key could hold it", s)
		}
	}
	v.httpURL(key("upstream"), r.Upstream, true)
}

// checkPattern enforces the route glob syntax: an absolute path of segments,
// each "*", "**" or a literal without "*". Rules match normalised paths, so
// a pattern that no normalised path can match ("//", "..", "?") is refused
// rather than left to silently never fire.
func checkPattern(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("missing (want a path like \"/api/v1/apps/**\")")
	case p[0] != '/':
		return fmt.Errorf("%q must start with \"/\"", p)
	case strings.ContainsAny(p, "?#"):
		return fmt.Errorf("%q must not contain a query or fragment", p)
	case strings.Contains(p, ";") || strings.Contains(strings.ToUpper(p), "%3B"):
		return fmt.Errorf("%q must not contain \";\" (paths with one are refused, so the rule would never match)", p)
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("%q must not contain spaces or control characters", p)
		}
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		switch {
		case s == "" && i < len(segs)-1:
			return fmt.Errorf("%q has an empty segment (\"//\")", p)
		case s == "." || s == "..":
			return fmt.Errorf("%q has a %q segment, which never matches a normalised path", p, s)
		case strings.Contains(s, "*") && s != "*" && s != "**":
			return fmt.Errorf("%q: segment %q mixes \"*\" with other characters (\"*\" and \"**\" must be whole segments)", p, s)
		case !validEscapes(s):
			return fmt.Errorf("%q has an invalid percent-escape", p)
		}
	}
	return nil
}

func validEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return false
		}
		i += 2
	}
	return true
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

// isMethod: 1 to 32 of A-Z 0-9 - _, the methods a request may carry
// (proxy.ValidMethod): methods are case-sensitive, every registered one is
// uppercase, and the edge refuses a request with any other.
func isMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		b := m[i]
		if !('A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}
