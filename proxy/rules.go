package proxy

import (
	"fmt"
	"strings"

	"github.com/zectre/zectre-auth/config"
)

// Route is one compiled rule: what a matching request needs and where it
// goes. The Rules' fallback is a Route too (pattern "/**", every method).
type Route struct {
	// Pattern is the rule's path glob in normal form.
	Pattern string
	// Methods the rule applies to; empty means every method.
	Methods []string
	// Auth is required, optional or public.
	Auth config.AuthMode
	// Scopes an API key must all hold (or "*").
	Scopes []string
	// Upstream is the base URL requests go to; "" means none (404 in proxy
	// mode; forward-auth never forwards, so it does not care).
	Upstream string

	segs  []patternSeg
	index int // position in Rules.routes; len(routes) for the fallback
}

type segKind uint8

const (
	segLiteral segKind = iota
	segOne             // "*": exactly one segment
	segAny             // "**": any number of segments, also none
)

type patternSeg struct {
	kind segKind
	lit  string // a literal segment's fold key (fold.go)
}

// Rules are the route rules, compiled once. Match is safe for concurrent use.
type Rules struct {
	routes   []Route
	fallback Route
}

// Compile builds Rules from the configured routes, in file order, with
// upstream and defaultAuth for requests no route matches. A route without an
// upstream goes to the default upstream. Patterns are normalised like request
// paths, so "/api/%61pps/*" and "/api/apps/*" are the same rule.
func Compile(routes []config.Route, upstream string, defaultAuth config.AuthMode) (*Rules, error) {
	if defaultAuth == "" {
		defaultAuth = config.DefaultDefaultAuth
	}
	if !validAuth(defaultAuth) {
		return nil, fmt.Errorf("proxy: default_auth %q is not required, optional or public", defaultAuth)
	}
	r := &Rules{routes: make([]Route, 0, len(routes))}
	for i, cr := range routes {
		rt, err := compileRoute(cr, upstream)
		if err != nil {
			return nil, fmt.Errorf("proxy: routes[%d]: %w", i, err)
		}
		rt.index = i
		r.routes = append(r.routes, rt)
	}
	r.fallback = Route{
		Pattern: "/**", Auth: defaultAuth, Upstream: upstream,
		segs: []patternSeg{{kind: segAny}}, index: len(routes),
	}
	return r, nil
}

func compileRoute(cr config.Route, upstream string) (Route, error) {
	if !validAuth(cr.Auth) {
		return Route{}, fmt.Errorf("auth %q is not required, optional or public", cr.Auth)
	}
	pattern, err := NormalizePath([]byte(cr.Path))
	if err != nil {
		return Route{}, fmt.Errorf("path %q cannot be normalised", cr.Path)
	}
	rt := Route{
		Pattern:  pattern,
		Methods:  append([]string(nil), cr.Methods...),
		Auth:     cr.Auth,
		Scopes:   append([]string(nil), cr.Scopes...),
		Upstream: cr.Upstream,
	}
	if rt.Upstream == "" {
		rt.Upstream = upstream
	}
	for _, s := range strings.Split(trimSlash(pattern)[1:], "/") {
		switch {
		case s == "*":
			rt.segs = append(rt.segs, patternSeg{kind: segOne})
		case s == "**":
			rt.segs = append(rt.segs, patternSeg{kind: segAny})
		case strings.Contains(s, "*"):
			return Route{}, fmt.Errorf("path %q: \"*\" and \"**\" must be whole segments", cr.Path)
		default:
			rt.segs = append(rt.segs, patternSeg{kind: segLiteral, lit: FoldPath(s)})
		}
	}
	return rt, nil
}

func validAuth(m config.AuthMode) bool {
	return m == config.AuthRequired || m == config.AuthOptional || m == config.AuthPublic
}

// Routes returns the compiled rules in order, followed by the fallback.
func (r *Rules) Routes() []Route {
	return append(append([]Route(nil), r.routes...), r.fallback)
}

// Match returns the first rule whose methods and pattern match, or the
// fallback; never nil. path must be in normal form (NormalizePath): rules see
// neither the query nor the fragment, so neither can widen a rule, and they
// match the path's fold key (fold.go) without a trailing slash, so no
// spelling of a path in another case, or with or without its last slash,
// escapes the rule of another. method must be the
// request's method as it stands (methods are case-sensitive, and the front
// refuses one that is not uppercase).
func (r *Rules) Match(method, path string) *Route {
	if len(r.routes) == 0 {
		return &r.fallback
	}
	if needsFold(path) {
		var buf [256]byte
		path = bytesString(appendFold(buf[:0], path))
	}
	path = trimSlash(path)
	for i := range r.routes {
		rt := &r.routes[i]
		if rt.allows(method) && matchSegments(rt.segs, path) {
			return rt
		}
	}
	return &r.fallback
}

func (rt *Route) allows(method string) bool {
	if len(rt.Methods) == 0 {
		return true
	}
	for _, m := range rt.Methods {
		if m == method {
			return true
		}
	}
	return false
}

// trimSlash drops a trailing slash (but the root's): rules read "/a/" as
// "/a", as Express (without strict routing), ASP.NET Core and Spring's
// older defaults route them to one handler, so that no spelling of a path
// escapes the rule of the other.
func trimSlash(p string) string {
	if len(p) > 1 && p[len(p)-1] == '/' {
		return p[:len(p)-1]
	}
	return p
}

// matchSegments matches path ("/a/b", its trailing slash already trimmed by
// Match) segment by segment: the segments are the pieces between slashes,
// so "/" is one empty segment. "*" takes one segment (also that empty one),
// "**" any number. This is the classic wildcard algorithm with one
// backtrack point per "**", linear in practice and never exponential.
func matchSegments(pat []patternSeg, path string) bool {
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	rest := path[1:] // the unconsumed segments, "" being one empty segment
	done := false    // every segment consumed
	pi := 0
	starPi, starRest, starDone := -1, "", false
	for !done {
		if pi < len(pat) && pat[pi].kind == segAny {
			starPi, starRest, starDone = pi, rest, done
			pi++
			continue
		}
		seg, next, last := cutSegment(rest)
		if pi < len(pat) && (pat[pi].kind == segOne || pat[pi].lit == seg) {
			pi++
			rest, done = next, last
			continue
		}
		if starPi < 0 || starDone {
			return false
		}
		// Let the last "**" take one more segment and try again.
		_, next, last = cutSegment(starRest)
		starRest, starDone = next, last
		pi, rest, done = starPi+1, starRest, starDone
	}
	for pi < len(pat) && pat[pi].kind == segAny {
		pi++
	}
	return pi == len(pat)
}

// cutSegment splits the first segment off rest; last reports that it was
// the final one.
func cutSegment(rest string) (seg, next string, last bool) {
	if k := strings.IndexByte(rest, '/'); k >= 0 {
		return rest[:k], rest[k+1:], false
	}
	return rest, "", true
}
