package handlers_test

import (
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/config"
)

// TestEdgePathTricks: with /public/** public and /admin/** required, no
// spelling of a path reaches /admin upstream without credentials, and the
// upstream receives exactly the normalised path that was decided on.
func TestEdgePathTricks(t *testing.T) {
	up := newUpstream(t)
	e := startEdge(t, edgeOptions{routes: spoofRoutes, defaultAuth: config.AuthRequired, upstream: up.srv.URL})
	cases := []struct {
		target string
		status int
		code   string
		// upstream is the request target the upstream must see ("" for
		// none: the request must not reach it).
		upstream string
	}{
		{"/public/x", 200, "", "/public/x"},
		{"/admin/x", 401, "UNAUTHORIZED", ""},
		{"/public/../admin/x", 401, "UNAUTHORIZED", ""},
		{"/public/%2e%2e/admin/x", 401, "UNAUTHORIZED", ""},
		{"/public/%2E./admin/x", 401, "UNAUTHORIZED", ""},
		{"/public/.%2e/admin/x", 401, "UNAUTHORIZED", ""},
		{"/public/x/../../admin/x", 401, "UNAUTHORIZED", ""},
		{"/public//../admin/x", 401, "UNAUTHORIZED", ""},
		{"//admin/x", 401, "UNAUTHORIZED", ""},
		{"/./admin/x", 401, "UNAUTHORIZED", ""},
		{"/%61dmin/x", 401, "UNAUTHORIZED", ""},
		{"/ADMIN/x", 401, "UNAUTHORIZED", ""}, // no rule: default_auth required
		{"/public/..%2fadmin/x", 400, "INVALID_PATH", ""},
		{"/public/%2fadmin", 400, "INVALID_PATH", ""},
		{"/public/..%5cadmin/x", 400, "INVALID_PATH", ""},
		{`/public/..\admin/x`, 400, "INVALID_PATH", ""},
		{"/public/..;/admin/x", 400, "INVALID_PATH", ""},
		{"/public/..;jsessionid=1/admin/x", 400, "INVALID_PATH", ""},
		{"/public/%2e%2e%3b/admin/x", 400, "INVALID_PATH", ""},
		{"/public/%00/x", 400, "INVALID_PATH", ""},
		{"/public/%zz", 400, "INVALID_PATH", ""},
		{"/../public/x", 400, "INVALID_PATH", ""},
		{"/admin?x=/public/y", 401, "UNAUTHORIZED", ""},
		{"/admin/x?/../../public/y", 401, "UNAUTHORIZED", ""},
		{"/admin#/public/y", 401, "UNAUTHORIZED", ""},
		{"/public/x?y=/admin&z=%2e%2e", 200, "", "/public/x?y=/admin&z=%2e%2e"},
		{"/public/x#/../../admin", 200, "", "/public/x"},
		{"/public/./y//z/", 200, "", "/public/y/z/"},
		{"/%70ublic/%7euser", 200, "", "/public/~user"},
		{"/public/a%20b%3a", 200, "", "/public/a%20b%3A"},
		{"/public/caf\xc3\xa9", 200, "", "/public/caf%C3%A9"},
		{"/public/a;b=c", 400, "INVALID_PATH", ""},
		// Absolute-form targets: the path inside decides and is forwarded.
		{"http://evil.example/admin/x", 401, "UNAUTHORIZED", ""},
		{"http://evil.example/public/../admin/x", 401, "UNAUTHORIZED", ""},
		{"http://evil.example/public/x", 200, "", "/public/x"},
		{"http://user:pw@evil.example/public/x", 200, "", "/public/x"},
		// The service's own routes use the same normalised path.
		{"/api/v1/%61pi-keys", 401, "UNAUTHORIZED", ""},
		{"/api/v1/auth/login%2F..", 400, "INVALID_PATH", ""},
		{"/api/v1/auth/../../admin/x", 401, "UNAUTHORIZED", ""},
		{"/api/v1/user/../../../public/x", 200, "", "/public/x"},
		{"/api/v1/user/../../public/x", 401, "UNAUTHORIZED", ""}, // that is /api/public/x
		{"/api/v1/auth/nothing-here", 404, "NOT_FOUND", ""},
		// Forward-auth never forwards, whatever its dot segments say.
		{"/api/v1/auth/verify/../../public/x", 400, "INVALID_PATH", ""},
		{"/api/v1/auth/verify/public/x", 200, "", ""},
		// Too long for the server to read: refused before any decision.
		{"/public/" + strings.Repeat("a", 20000), 431, "HEADERS_TOO_LARGE", ""},
	}
	for _, tc := range cases {
		up.take()
		r := e.raw("GET", tc.target)
		if r.status != tc.status || (tc.code != "" && r.code() != tc.code) {
			t.Errorf("%.80q: %d %q, want %d %q; body %.200s", tc.target, r.status, r.code(), tc.status, tc.code, r.body)
			continue
		}
		seen := up.take()
		switch {
		case tc.upstream == "" && len(seen) != 0:
			t.Errorf("%q reached the upstream as %q", tc.target, seen[0].RequestURI)
		case tc.upstream != "" && (len(seen) != 1 || seen[0].RequestURI != tc.upstream):
			t.Errorf("%q: upstream saw %+v, want %q", tc.target, seen, tc.upstream)
		}
		for _, s := range seen {
			if strings.HasPrefix(strings.TrimLeft(s.RequestURI, "/"), "admin") || strings.Contains(s.RequestURI, "/admin/") {
				t.Errorf("%q reached /admin upstream: %q", tc.target, s.RequestURI)
			}
		}
	}
}
