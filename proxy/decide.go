package proxy

import (
	"context"
	"errors"
	"net/netip"
	"unsafe"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/config"
)

// Resolver turns a request's credentials into its caller. *authn.Resolver
// satisfies it.
type Resolver interface {
	Resolve(ctx context.Context, c authn.Credentials) (authn.AuthUser, error)
}

var _ Resolver = (*authn.Resolver)(nil)

// decision is what the rules and the credentials say about one request.
type decision struct {
	route  *Route
	user   authn.AuthUser
	authed bool // user holds a verified identity to attach
}

// attempt describes the request for the audit line of its decision.
type attempt struct {
	source    string // "proxy" or "verify"
	path      string // the normalised path decided on
	peer      netip.Addr
	requestID []byte
}

// decide applies the matched rule to the request's credentials, the same
// way in proxy mode and in forward-auth:
//   - public: no authentication at all (a credential is not even looked at);
//   - optional: a valid credential's identity is attached, none is fine, a
//     present but invalid one is refused (401);
//   - required: no credential is 401 UNAUTHORIZED, a bad one 401.
//
// A caller that lacks one of the rule's scopes is refused with 403; tokens
// carry "*". On an optional route an anonymous caller passes without scopes.
func (h *Handler) decide(rc *fasthttp.RequestCtx, method, path string, at *attempt) (decision, error) {
	d := decision{route: h.rules.Match(method, path)}
	if d.route.Auth == config.AuthPublic {
		return d, nil
	}
	creds := credentials(&rc.Request.Header)
	// A context of its own: the RequestCtx is recycled after the handler
	// returns, and the cache bounds its own miss path.
	u, err := h.resolver.Resolve(context.Background(), creds)
	switch {
	case errors.Is(err, authn.ErrNoCredential):
		if d.route.Auth == config.AuthRequired {
			return d, err
		}
		return d, nil
	case err != nil:
		h.record(rc, at, creds, nil, err)
		return d, err
	}
	for _, s := range d.route.Scopes {
		if !u.HasScope(s) {
			h.record(rc, at, creds, &u, authn.ErrInsufficientScope)
			return d, authn.ErrInsufficientScope
		}
	}
	h.record(rc, at, creds, &u, nil)
	d.user, d.authed = u, true
	return d, nil
}

// credentials reads the credential headers without copying them. The
// strings alias the request's header memory and must not outlive the
// request: they go to Resolve, which runs to completion inside the handler;
// the authenticators keep only digests and ids derived from them, and the
// audit line copies the key prefix.
func credentials(h *fasthttp.RequestHeader) authn.Credentials {
	return authn.Credentials{
		Authorization: bytesString(h.Peek(fasthttp.HeaderAuthorization)),
		APIKey:        bytesString(h.Peek("X-API-Key")),
	}
}

// bytesString views b as a string without copying. Only for values that do
// not outlive the request that b belongs to.
func bytesString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// record writes the audit line of one authentication attempt. u is the
// resolved caller, when resolution succeeded.
func (h *Handler) record(rc *fasthttp.RequestCtx, at *attempt, c authn.Credentials, u *authn.AuthUser, err error) {
	if h.audit == nil {
		return
	}
	e := authn.AuditEventFor(c)
	e.Source, e.Path = at.source, at.path
	e.Client = clientAddr(&rc.Request.Header, at.peer, h.trust)
	e.RequestID = bytesString(at.requestID) // copied by Record
	if u != nil {
		e.Method, e.UserID, e.KeyID = string(u.Method), u.ID, u.APIKeyID
	}
	if err != nil {
		e.Outcome, e.Reason = "denied", err.Error()
		if h.code != nil {
			e.Code = h.code(err)
		}
	} else {
		e.Outcome = "ok"
	}
	h.audit.Record(e)
}
