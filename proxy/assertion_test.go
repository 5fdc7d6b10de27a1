package proxy

import (
	"errors"
	"slices"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/config"
)

// fixedAsserter asserts "signed:<user id>", or fails when err is set.
type fixedAsserter struct{ err error }

func (a fixedAsserter) Assertion(u authn.AuthUser) ([]byte, error) {
	if a.err != nil {
		return nil, a.err
	}
	return []byte("signed:" + u.ID), nil
}

func assertingHandler(t *testing.T, a Asserter) *Handler {
	t.Helper()
	h, err := New(Options{
		Routes:      []config.Route{{Path: "/public/**", Auth: config.AuthPublic}},
		DefaultAuth: config.AuthOptional, Resolver: oneKey{}, Identity: a,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// The ext_authz OK answer sets the assertion of an identified caller and
// removes a client's own, in every spelling; without one it sets none.
func TestCheckAssertion(t *testing.T) {
	for _, tc := range []struct {
		name     string
		asserter Asserter
		headers  []HeaderLine
		want     string // the value set; "" none
		wantGone []string
	}{
		{"identified", fixedAsserter{}, headerLines("x-api-key", "good", "X-Zectre-Identity", "forged"), "signed:u-1", nil},
		{"anonymous", fixedAsserter{}, headerLines("x_zectre_identity", "forged"), "", []string{"x_zectre_identity"}},
		{"minting fails", fixedAsserter{errors.New("boom")}, headerLines("x-api-key", "good", "x-zectre-identity", "forged"), "", []string{"x-zectre-identity"}},
		{"assertions off", nil, headerLines("x-api-key", "good", "x-zectre-identity", "forged"), "", []string{"x-zectre-identity"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := assertingHandler(t, tc.asserter)
			var res CheckResult
			if err := h.Check(&CheckRequest{Method: "GET", Path: "/x", Headers: tc.headers}, &res); err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, hl := range res.Set {
				if hl.Name == "x-zectre-identity" {
					got = hl.Value
				}
			}
			if got != tc.want || !slices.Equal(res.Remove, tc.wantGone) {
				t.Errorf("set %q remove %v, want %q and %v", got, res.Remove, tc.want, tc.wantGone)
			}
		})
	}
}

// The forward-auth answer always carries the header, empty for an
// anonymous caller (like the other identity headers).
func TestVerifyAssertion(t *testing.T) {
	h := assertingHandler(t, fixedAsserter{})
	for _, tc := range []struct {
		name, key, want string
	}{
		{"identified", "good", "signed:u-1"},
		{"anonymous", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rc fasthttp.RequestCtx
			rc.Request.SetRequestURI("/api/v1/auth/verify/x")
			if tc.key != "" {
				rc.Request.Header.Set(HeaderAPIKey, tc.key)
			}
			if err := h.Verify(&rc, "/x"); err != nil {
				t.Fatal(err)
			}
			v := rc.Response.Header.Peek(HeaderIdentity)
			if v == nil || string(v) != tc.want {
				t.Errorf("%s = %q, want %q (present)", HeaderIdentity, v, tc.want)
			}
		})
	}
}
