package authn_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/authn"
)

func TestValidScope(t *testing.T) {
	for _, tc := range []struct {
		scope string
		want  error
	}{
		{"*", nil},
		{"apps:read", nil},
		{"apps:write", nil},
		{"a", nil},
		{"billing.invoices_read-all:1", nil},
		{strings.Repeat("a", 64), nil},

		{"apps:*", authn.ErrScopeWildcard},
		{"*:read", authn.ErrScopeWildcard},
		{"**", authn.ErrScopeWildcard},
		{"apps*", authn.ErrScopeWildcard},
		{"a:*:b", authn.ErrScopeWildcard},
		{"*.*", authn.ErrScopeWildcard},

		{"", authn.ErrScopeSyntax},
		{strings.Repeat("a", 65), authn.ErrScopeSyntax},
		{"Apps", authn.ErrScopeSyntax},
		{"a,b", authn.ErrScopeSyntax},
		{"a b", authn.ErrScopeSyntax},
		{" *", authn.ErrScopeSyntax},
		{"apps/read", authn.ErrScopeSyntax},
		{"é", authn.ErrScopeSyntax},
		{"a\x00", authn.ErrScopeSyntax},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			if err := authn.ValidScope(tc.scope); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("ValidScope(%q) = %v, want %v", tc.scope, err, tc.want)
			}
		})
	}
}
