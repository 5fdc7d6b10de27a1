package proxy

import "github.com/zectre/zectre-auth/authn"

// HeaderIdentity carries the signed identity assertion (config
// identity_assertion). Clients cannot send it: every X-Zectre-* header of
// theirs is dropped.
const HeaderIdentity = "X-Zectre-Identity"

var keyIdentity = []byte(HeaderIdentity)

// Asserter mints the signed assertion of a caller; *identity.Signer. The
// result is shared and never modified.
type Asserter interface {
	// u by value: a pointer through this interface would move every
	// decision's caller to the heap.
	Assertion(u authn.AuthUser) ([]byte, error)
}

// setAssertion adds the assertion of u when assertions are on. With every
// set (the forward-auth answer) the header is present, empty for an
// anonymous caller, like the other identity headers. A minting failure
// leaves the header out, which a verifying upstream refuses: the edge fails
// closed rather than forward an identity nobody signed.
func (h *Handler) setAssertion(hs headerSetter, u *authn.AuthUser, every bool) {
	if h.identity == nil {
		return
	}
	if u == nil {
		if every {
			hs.SetCanonical(keyIdentity, nil)
		}
		return
	}
	tok, err := h.identity.Assertion(*u)
	if err != nil {
		if every {
			hs.SetCanonical(keyIdentity, nil)
		}
		return
	}
	hs.SetCanonical(keyIdentity, tok)
}
