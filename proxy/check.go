package proxy

import (
	"net/netip"
	"strings"
)

// HeaderLine is one header line as an external authorization client
// reports it, its name spelled as it arrived.
type HeaderLine struct {
	Name, Value string
}

// CheckRequest is the original request as Envoy's ext_authz names it
// (attributes.request.http): its method, its path with the query, as the
// client sent it, and its header lines. Pseudo-headers (":path") are not
// header lines and are passed over.
type CheckRequest struct {
	Method  string
	Path    string
	Headers []HeaderLine
	// Peer is the address the client connected from, as Envoy saw it
	// (attributes.source); X-Forwarded-For counts only when it is a
	// trusted peer, as on the HTTP path.
	Peer netip.Addr
}

// CheckResult is what the upstream request must carry once allowed: the
// identity headers to set, overwriting whatever is there, and the client's
// other identity header lines to remove, spelled as they arrived. A name
// that is set is never listed for removal: Envoy removes after it sets.
type CheckResult struct {
	Set    []HeaderLine
	Remove []string
}

// Check is Verify for Envoy's ext_authz: the same decision (rules on the
// normalised path, every credential line, the methods an override names,
// scopes, the audit line, with source "ext_authz") about the request r
// names. The request is never forwarded. On error nothing is allowed and
// the caller answers with the error (ErrBadPath for a path that cannot be
// normalised, ErrBadMethod, authn's errors).
//
// Unlike Verify's answer, an anonymous caller gets no identity header at
// all: Envoy sets headers on the upstream request itself, so a header that
// does not apply is simply absent there, like in proxy mode.
func (h *Handler) Check(r *CheckRequest, res *CheckResult) error {
	ex := acquireExchange()
	defer ex.release()
	s := &ex.s
	hdr := &ex.req.Header
	for _, hl := range r.Headers {
		if hl.Name != "" && hl.Name[0] != ':' {
			hdr.Add(hl.Name, hl.Value)
		}
	}
	at := attempt{source: "ext_authz", peer: r.Peer, requestID: requestID(hdr, s)}
	if !ValidMethod(s2b(r.Method)) {
		return ErrBadMethod
	}
	o := originalRequest{method: r.Method, query: uriQuery(s2b(r.Path))}
	var err error
	if o.path, err = normalizeInto(s, uriPath(s2b(r.Path))); err != nil {
		return err
	}
	at.path = o.path
	var l lines
	scanLines(hdr, &l)
	d, err := h.decideOriginal(hdr, &l, &o, &at, s)
	if err != nil {
		return err
	}
	res.Set = res.Set[:0]
	if d.authed {
		setIdentity((*collect)(res), &d.user, s, false)
		h.setAssertion((*collect)(res), &d.user, false)
	}
	res.Remove = res.Remove[:0]
	for _, hl := range r.Headers {
		if isIdentityName(hl.Name) && !res.sets(hl.Name) && !res.removes(hl.Name) {
			res.Remove = append(res.Remove, hl.Name)
		}
	}
	return nil
}

// isIdentityName reports a header name that reads as an identity header in
// any spelling, by the rule of the HTTP path (dropRequestHeader).
func isIdentityName(name string) bool { return foldHasPrefix(s2b(name), "x-zectre-") }

// sets reports whether name (in any case: header names are) is set.
func (res *CheckResult) sets(name string) bool {
	for _, hl := range res.Set {
		if strings.EqualFold(hl.Name, name) {
			return true
		}
	}
	return false
}

func (res *CheckResult) removes(name string) bool {
	for _, n := range res.Remove {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// collect gathers the identity headers setIdentity writes, copied: the
// values it passes alias scratch memory that is reused.
type collect CheckResult

func (c *collect) SetCanonical(key, value []byte) {
	c.Set = append(c.Set, HeaderLine{Name: strings.ToLower(string(key)), Value: string(value)})
}

var _ headerSetter = (*collect)(nil)
