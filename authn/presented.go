package authn

import (
	"context"
	"fmt"
)

// Resolve is what ResolveAll asks about each credential: *Resolver.Resolve,
// or a wrapper of it.
type Resolve func(ctx context.Context, c Credentials) (AuthUser, error)

// ResolveAll decides a request that presents the credentials cs, one per
// header line. Every credential is verified, so that no line reaches an
// upstream unverified: the first that fails decides (with its index); when
// all are valid they must name the same caller by the same credential (the
// same user, method and key), else ErrAmbiguousCredentials. No credential
// at all is ErrNoCredential. The index is that of the credential the answer
// is about, for the audit line.
func ResolveAll(ctx context.Context, resolve Resolve, cs []Credentials) (AuthUser, int, error) {
	if len(cs) == 0 {
		return AuthUser{}, 0, ErrNoCredential
	}
	u, err := resolve(ctx, cs[0])
	if err != nil {
		return AuthUser{}, 0, err
	}
	for i := 1; i < len(cs); i++ {
		if cs[i] == cs[0] {
			continue // the same line twice names the same caller
		}
		v, err := resolve(ctx, cs[i])
		if err != nil {
			return AuthUser{}, i, err
		}
		if v.ID != u.ID || v.Method != u.Method || v.APIKeyID != u.APIKeyID {
			return AuthUser{}, i, fmt.Errorf("%w: credential %d names another caller than the first", ErrAmbiguousCredentials, i+1)
		}
	}
	return u, 0, nil
}
