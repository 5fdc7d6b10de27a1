package proxy

import (
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/config"
)

func TestMatchPatterns(t *testing.T) {
	tests := []struct {
		pattern string
		path    string
		want    bool
	}{
		{"/", "/", true},
		{"/", "/a", false},
		{"/**", "/", true},
		{"/**", "/a/b/c/", true},
		{"/a", "/a", true},
		{"/a", "/a/", true}, // a trailing slash is insignificant
		{"/a/", "/a", true},
		{"/a", "/ab", false},
		{"/a/", "/a/", true},
		{"/a/*", "/a/b", true},
		{"/a/*", "/a/", false}, // "/a/" reads as "/a"
		{"/a/*", "/a/b/", true},
		{"/a/*", "/a", false},
		{"/a/*", "/a/b/c", false},
		{"/a/**", "/a", true},
		{"/a/**", "/a/", true},
		{"/a/**", "/a/b/c", true},
		{"/a/**", "/ab", false},
		{"/a/**", "/b/a", false},
		{"/a/**/z", "/a/z", true},
		{"/a/**/z", "/a/b/c/z", true},
		{"/a/**/z", "/a/b/c/z/", true},
		{"/a/**/z/**", "/a/b/z/z/c", true},
		{"/*/b", "/x/b", true},
		{"/*/b", "/x/y/b", false},
		{"/**/b/*", "/b/x", true},
		{"/**/b/*", "/q/b/b/x", true},
		{"/**/**/x", "/x", true},
		{"/api/v1/apps/**", "/api/v1/apps", true},
		{"/api/v1/apps/**", "/api/v1/apps/1/deploy", true},
		{"/api/v1/apps/**", "/api/v1/appsx", false},
		// Patterns are normalised like paths.
		{"/%61pi/*", "/api/x", true},
		{"/a%3db", "/a%3Db", true},
	}
	for _, tc := range tests {
		r, err := Compile([]config.Route{{Path: tc.pattern, Auth: config.AuthRequired}}, "", config.AuthPublic)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		got := r.Match("GET", tc.path).Auth == config.AuthRequired
		if got != tc.want {
			t.Errorf("%s matches %s = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
		if ref := referenceMatch(r.routes[0].segs, tc.path); ref != tc.want {
			t.Errorf("reference: %s matches %s = %v, want %v", tc.pattern, tc.path, ref, tc.want)
		}
	}
}

func TestRulesOrderMethodsAndFallback(t *testing.T) {
	routes := []config.Route{
		{Path: "/apps/**", Methods: []string{"POST", "PUT"}, Auth: config.AuthRequired, Scopes: []string{"apps:write"}, Upstream: "http://write"},
		{Path: "/apps/**", Auth: config.AuthOptional},
		{Path: "/apps/public", Auth: config.AuthPublic}, // shadowed by the rule above
		{Path: "/health", Auth: config.AuthPublic, Upstream: "http://health"},
	}
	r, err := Compile(routes, "http://default", config.AuthRequired)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		index        int
		auth         config.AuthMode
		upstream     string
	}{
		{"POST", "/apps/1", 0, config.AuthRequired, "http://write"},
		{"PUT", "/apps", 0, config.AuthRequired, "http://write"},
		{"GET", "/apps/1", 1, config.AuthOptional, "http://default"},
		{"post", "/apps/1", 1, config.AuthOptional, "http://default"}, // methods are case-sensitive
		{"GET", "/apps/public", 1, config.AuthOptional, "http://default"},
		{"GET", "/health", 3, config.AuthPublic, "http://health"},
		{"GET", "/other", 4, config.AuthRequired, "http://default"},
		{"GET", "/", 4, config.AuthRequired, "http://default"},
	}
	for _, tc := range tests {
		rt := r.Match(tc.method, tc.path)
		if rt.index != tc.index || rt.Auth != tc.auth || rt.Upstream != tc.upstream {
			t.Errorf("%s %s: rule %d %s %q, want %d %s %q", tc.method, tc.path, rt.index, rt.Auth, rt.Upstream, tc.index, tc.auth, tc.upstream)
		}
	}
	if got := r.Routes(); len(got) != len(routes)+1 || got[len(routes)].Pattern != "/**" {
		t.Fatalf("Routes() = %+v", got)
	}
}

func TestCompileRefuses(t *testing.T) {
	tests := []struct {
		name  string
		route config.Route
		auth  config.AuthMode
	}{
		{"bad auth", config.Route{Path: "/a", Auth: "maybe"}, config.AuthOptional},
		{"no auth", config.Route{Path: "/a"}, config.AuthOptional},
		{"relative", config.Route{Path: "a/*", Auth: config.AuthPublic}, config.AuthOptional},
		{"above root", config.Route{Path: "/../a", Auth: config.AuthPublic}, config.AuthOptional},
		{"encoded slash", config.Route{Path: "/a%2Fb", Auth: config.AuthPublic}, config.AuthOptional},
		{"partial star", config.Route{Path: "/a*", Auth: config.AuthPublic}, config.AuthOptional},
		{"triple star", config.Route{Path: "/***", Auth: config.AuthPublic}, config.AuthOptional},
		{"bad default", config.Route{Path: "/a", Auth: config.AuthPublic}, "sometimes"},
	}
	for _, tc := range tests {
		if _, err := Compile([]config.Route{tc.route}, "", tc.auth); err == nil {
			t.Errorf("%s: compiled", tc.name)
		}
	}
	r, err := Compile(nil, "", "")
	if err != nil || r.Match("GET", "/x").Auth != config.DefaultDefaultAuth {
		t.Fatalf("empty rules: %v, %+v", err, r)
	}
}

// referenceMatch is the obvious recursive matcher, the specification that
// matchSegments is checked against.
func referenceMatch(pat []patternSeg, path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	var rec func(p []patternSeg, segs []string) bool
	rec = func(p []patternSeg, segs []string) bool {
		if len(p) == 0 {
			return len(segs) == 0
		}
		switch p[0].kind {
		case segAny:
			for i := 0; i <= len(segs); i++ {
				if rec(p[1:], segs[i:]) {
					return true
				}
			}
			return false
		case segOne:
			return len(segs) > 0 && rec(p[1:], segs[1:])
		default:
			return len(segs) > 0 && segs[0] == p[0].lit && rec(p[1:], segs[1:])
		}
	}
	return rec(pat, strings.Split(trimSlash(path)[1:], "/"))
}

// FuzzMatch checks Match against the reference matcher for any pattern and
// path pair (queries never reach Match, so none is fuzzed), and that it
// never panics.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"/a/**", "/a/b"}, {"/**/x/*", "/x/x/x"}, {"/*/*", "/a/"}, {"/", "/"},
		{"/a/**/b/**/c", "/a/b/b/c/c"}, {"/%61", "/a"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, raw string) {
		r, err := Compile([]config.Route{{Path: pattern, Auth: config.AuthRequired}}, "", config.AuthPublic)
		if err != nil {
			return
		}
		path, err := NormalizePath([]byte(raw))
		if err != nil {
			return
		}
		got := r.Match("GET", path).Auth == config.AuthRequired
		if want := referenceMatch(r.routes[0].segs, path); got != want {
			t.Fatalf("pattern %q path %q: Match %v, reference %v", pattern, path, got, want)
		}
		if strings.Count(pattern, "*") == 0 {
			// A literal pattern matches exactly its own normal form.
			if want := FoldPath(trimSlash(path)) == FoldPath(trimSlash(r.routes[0].Pattern)); got != want {
				t.Fatalf("literal %q path %q: Match %v", pattern, path, got)
			}
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	var routes []config.Route
	for _, p := range []string{
		"/api/v1/apps/*/deploy/**", "/api/v1/orgs/*/members", "/static/**", "/public/**",
		"/api/v1/apps/**", "/api/v1/**",
	} {
		routes = append(routes, config.Route{Path: p, Auth: config.AuthRequired, Methods: []string{"GET", "POST"}})
	}
	r, err := Compile(routes, "http://up", config.AuthOptional)
	if err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"/api/v1/apps/1234/deployments/latest", "/unmatched/path/here"} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Match("GET", path)
			}
		})
	}
}
