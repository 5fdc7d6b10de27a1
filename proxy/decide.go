package proxy

import (
	"context"
	"errors"
	"net/netip"
	"unsafe"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/audit"
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
	route  *Route // the rule of the request's own method: where it goes
	user   authn.AuthUser
	authed bool // user holds a verified identity to attach
	cred   int  // index in lines.credentials() of the verified credential
}

// attempt describes the request for the audit line of its decision.
type attempt struct {
	source    string // "proxy", "verify" or "ext_authz"
	path      string // the normalised path decided on
	peer      netip.Addr
	requestID []byte
}

// maxReadings bounds the methods one request is decided for: its own and
// those an upstream may act on instead (method overrides).
const maxReadings = 1 + maxOverrides + 1

// readings are the methods an upstream may act on for one request: its own
// first, then each method an override names. Every one of them is decided.
type readings struct {
	methods [maxReadings]string
	n       int
}

// addMethod adds the request's own method, and GET for a HEAD: Express,
// Go's ServeMux, Rails and others serve a HEAD with the GET handler, so a
// rule limited to GET must hold for HEAD too.
func (r *readings) addMethod(m string) {
	r.add(m)
	if m == fasthttp.MethodHead {
		r.add(fasthttp.MethodGet)
	}
}

func (r *readings) add(m string) {
	for _, have := range r.methods[:r.n] {
		if have == m {
			return
		}
	}
	if r.n < len(r.methods) {
		r.methods[r.n] = m
		r.n++
	}
}

// decide applies the rules to the request's credentials, the same way in
// proxy mode and in forward-auth. The request is decided for each of its
// readings (its method and any method an override names): the strictest
// rule's auth applies, and the caller must hold the scopes of every rule.
//   - public: no authentication at all (a credential is not even looked at);
//   - optional: a valid credential's identity is attached, none is fine, a
//     present but invalid one is refused (401);
//   - required: no credential is 401 UNAUTHORIZED, a bad one 401.
//
// Every credential line is verified and all must name one caller
// (authn.ResolveAll); a credential header in a look-alike spelling is
// ambiguous. A caller that lacks one of the rules' scopes is refused with
// 403; tokens carry "*". On an optional route an anonymous caller passes
// without scopes.
func (h *Handler) decide(hdr *fasthttp.RequestHeader, l *lines, rd *readings, path string, at *attempt) (decision, error) {
	d := decision{route: h.rules.Match(rd.methods[0], path)}
	var routes [maxReadings]*Route
	routes[0] = d.route
	auth := d.route.Auth
	for i := 1; i < rd.n; i++ {
		routes[i] = h.rules.Match(rd.methods[i], path)
		auth = stricter(auth, routes[i].Auth)
	}
	if auth == config.AuthPublic {
		return d, nil
	}
	if l.ambiguous {
		err := errAmbiguousLines
		h.record(hdr, at, authn.Credentials{}, nil, err)
		return d, err
	}
	creds := l.credentials()
	// A context of its own: the request's memory is recycled after the
	// handler returns, and the cache bounds its own miss path.
	u, i, err := authn.ResolveAll(context.Background(), h.resolver.Resolve, creds)
	switch {
	case errors.Is(err, authn.ErrNoCredential):
		if auth == config.AuthRequired {
			return d, err
		}
		return d, nil
	case err != nil:
		h.record(hdr, at, creds[i], nil, err)
		return d, err
	}
	for _, rt := range routes[:rd.n] {
		for _, s := range rt.Scopes {
			if !u.HasScope(s) {
				h.record(hdr, at, creds[0], &u, authn.ErrInsufficientScope)
				return d, authn.ErrInsufficientScope
			}
		}
	}
	h.record(hdr, at, creds[0], &u, nil)
	d.user, d.authed = u, true
	return d, nil
}

// stricter is the auth mode of the two that asks more of the caller.
func stricter(a, b config.AuthMode) config.AuthMode {
	rank := func(m config.AuthMode) int {
		switch m {
		case config.AuthRequired:
			return 2
		case config.AuthOptional:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// bytesString views b as a string without copying. Only for values that do
// not outlive the request that b belongs to.
func bytesString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// record writes the audit line of one authentication attempt. u is the
// resolved caller, when resolution succeeded.
func (h *Handler) record(hdr *fasthttp.RequestHeader, at *attempt, c authn.Credentials, u *authn.AuthUser, err error) {
	if h.audit == nil {
		return
	}
	a := audit.Attempt{
		Source: at.source, Path: at.path, Client: clientAddr(hdr, at.peer, h.trust),
		RequestID:   bytesString(at.requestID), // copied by the writer
		Credentials: c, Err: err,
	}
	if u != nil {
		a.User = *u
	}
	h.audit.Attempt(a)
}
