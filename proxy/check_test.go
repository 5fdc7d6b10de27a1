package proxy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/config"
)

// oneKey resolves the API key "good" to one caller and refuses any other
// credential.
type oneKey struct{}

func (oneKey) Resolve(_ context.Context, c authn.Credentials) (authn.AuthUser, error) {
	switch {
	case c.APIKey == "good":
		return authn.AuthUser{ID: "u-1", Email: "a@example.com", Method: authn.MethodAPIKey, APIKeyID: "k-1", Scopes: []string{"apps:read"}}, nil
	case c.APIKey == "" && c.Authorization == "":
		return authn.AuthUser{}, authn.ErrNoCredential
	}
	return authn.AuthUser{}, authn.ErrInvalidKey
}

func checkHandler(t testing.TB) *Handler {
	h, err := New(Options{
		Routes: []config.Route{
			{Path: "/public/**", Auth: config.AuthPublic},
			{Path: "/admin/**", Auth: config.AuthRequired},
			{Path: "/apps/**", Methods: []string{"DELETE"}, Auth: config.AuthRequired, Scopes: []string{"apps:write"}},
		},
		DefaultAuth: config.AuthOptional,
		Resolver:    oneKey{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func headerLines(kv ...string) []HeaderLine {
	var out []HeaderLine
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, HeaderLine{kv[i], kv[i+1]})
	}
	return out
}

// TestCheck: Check's decision and what it asks Envoy to set and remove. A
// client's identity line is removed as it arrived unless its name (in any
// case) is set; pseudo-headers are not header lines.
func TestCheck(t *testing.T) {
	h := checkHandler(t)
	cases := []struct {
		name    string
		method  string
		path    string
		headers []HeaderLine
		err     error
		set     []string // names set
		remove  []string
	}{
		{"public", "GET", "/public/x", headerLines("x-zectre-user-id", "evil"), nil, nil, []string{"x-zectre-user-id"}},
		{"anonymous, optional", "GET", "/x", headerLines("X_Zectre_User_Id", "evil", "x-zectre-scopes", "*"), nil, nil, []string{"X_Zectre_User_Id", "x-zectre-scopes"}},
		{"key, forged", "GET", "/admin/x", headerLines("x-api-key", "good", "X-Zectre-User-Id", "evil", "x.zectre.user.id", "evil", "x-zectre-user-id", "again", "x-zectre-other", "1"),
			nil, []string{"x-zectre-user-id", "x-zectre-user-email", "x-zectre-user-admin", "x-zectre-auth-method", "x-zectre-api-key-id", "x-zectre-scopes"},
			[]string{"x.zectre.user.id", "x-zectre-other"}},
		{"no credential", "GET", "/admin/x", nil, authn.ErrNoCredential, nil, nil},
		{"bad key", "GET", "/admin/x", headerLines("x-api-key", "bad"), authn.ErrInvalidKey, nil, nil},
		{"override needs a scope", "POST", "/apps/1", headerLines("x-api-key", "good", "x-http-method-override", "DELETE"), authn.ErrInsufficientScope, nil, nil},
		{"query override", "POST", "/apps/1?_method=delete", headerLines("x-api-key", "good"), authn.ErrInsufficientScope, nil, nil},
		{"bad path", "GET", "/public/..%2fadmin", nil, ErrBadPath, nil, nil},
		{"asterisk", "OPTIONS", "*", nil, ErrBadPath, nil, nil},
		{"bad method", "get", "/public/x", nil, ErrBadMethod, nil, nil},
		{"pseudo-header", "GET", "/public/x", headerLines(":path", "/admin/x", ":authority", "h"), nil, nil, nil},
	}
	for _, tc := range cases {
		var res CheckResult
		err := h.Check(&CheckRequest{Method: tc.method, Path: tc.path, Headers: tc.headers}, &res)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		var set []string
		for _, hl := range res.Set {
			set = append(set, hl.Name)
		}
		if !slices.Equal(set, tc.set) || !slices.Equal(res.Remove, tc.remove) {
			t.Errorf("%s: set %v remove %v, want %v and %v", tc.name, set, res.Remove, tc.set, tc.remove)
		}
	}
}

// FuzzCheck: whatever Envoy names, Check does not panic, and an allowed
// answer never removes a name it sets, removes only identity names the
// client sent, and sets no identity without a verified credential.
func FuzzCheck(f *testing.F) {
	h := checkHandler(f)
	f.Add("GET", "/admin/x?a=b", "x-api-key", "good", "x_zectre_user_id", "evil")
	f.Add("POST", "/apps/1?_method=DELETE", "x-http-method-override", "delete", "content-length", "abc")
	f.Add("GET", "/public/%2e%2e/admin", "authorization", "Bearer x", "host", "")
	f.Add("CONNECT", "", "cookie", "a=b; c", "transfer-encoding", "chunked")
	f.Fuzz(func(t *testing.T, method, path, k1, v1, k2, v2 string) {
		in := headerLines(k1, v1, k2, v2)
		var res CheckResult
		if err := h.Check(&CheckRequest{Method: method, Path: path, Headers: in}, &res); err != nil {
			return
		}
		for _, r := range res.Remove {
			if res.sets(r) || !isIdentityName(r) || !slices.ContainsFunc(in, func(hl HeaderLine) bool { return hl.Name == r }) {
				t.Fatalf("removes %q (set %v, sent %v)", r, res.Set, in)
			}
		}
		if len(res.Set) > 0 && !slices.ContainsFunc(in, func(hl HeaderLine) bool { return strings.EqualFold(hl.Name, HeaderAPIKey) && hl.Value == "good" }) {
			t.Fatalf("identity %v without the key", res.Set)
		}
	})
}
