package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
)

// VerifyPath is the forward-auth endpoint. Requests to it, and to any path
// below it (Envoy's ext_authz with path_prefix appends the original path),
// are answered by Verify and never forwarded.
const VerifyPath = "/api/v1/auth/verify"

// IsVerifyPath reports whether p is VerifyPath or below it, in any case of
// its letters (rules and the service's own paths are matched so too).
func IsVerifyPath(p string) bool { return IsUnder(p, VerifyPath) }

func isVerifyRaw(p []byte) bool { return IsVerifyPath(bytesString(p)) }

// Verify answers forward-auth for an ingress: the same decision as Serve
// about the original request, without forwarding anything. path is the
// normalised path of the verify request itself. On success it sets 200, an
// empty body and the identity headers; on error nothing is sent and the
// caller answers with the error (401/403 with WWW-Authenticate, 400 for a
// path that cannot be normalised).
//
// The original request is, from a trusted peer, X-Forwarded-Method +
// X-Forwarded-Uri (Traefik, Caddy) or X-Original-Method + X-Original-URI
// (nginx); when both pairs are present they must name the same path and
// method (ErrAmbiguousOriginal otherwise). From anyone else those headers are ignored, so that a client who
// can reach the endpoint, or an ingress that passes client headers through,
// cannot ask about a path of its choice. Without them the verify request's
// own method and path count; in Envoy's form the path is what follows
// VerifyPath.
func (h *Handler) Verify(rc *fasthttp.RequestCtx, path string) error {
	ex := acquireExchange()
	defer ex.release()
	s := &ex.s
	peer := peerAddr(rc)
	at := attempt{source: "verify", peer: peer, requestID: requestID(&rc.Request.Header, s)}
	rc.Response.Header.SetBytesV(HeaderRequestID, at.requestID)
	rc.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")

	var l lines
	scanLines(&rc.Request.Header, &l)
	o, err := original(rc, &l, path, h.trust.contains(peer), s)
	if err != nil {
		return err
	}
	at.path = o.path
	d, err := h.decideOriginal(&rc.Request.Header, &l, &o, &at, s)
	if err != nil {
		return err
	}
	// Every identity header is present, empty when it does not apply:
	// ingresses copy a fixed list of answer headers onto the forwarded
	// request, and some (Caddy 2.6) copy an unresolved placeholder for a
	// header the answer lacks.
	var u *authn.AuthUser
	if d.authed {
		u = &d.user
	}
	setIdentity(&rc.Response.Header, u, s, true)
	h.setAssertion(&rc.Response.Header, u, true)
	rc.SetStatusCode(fasthttp.StatusOK)
	rc.Response.ResetBody()
	return nil
}

// decideOriginal decides the original request o that an ingress (or
// Envoy, through Check) asks about, with the header hdr whose lines l holds.
// The ingress forwards the client's request with every header it has,
// method overrides included, so the request is decided for each method the
// upstream may act on. Verify and Check both end here.
func (h *Handler) decideOriginal(hdr *fasthttp.RequestHeader, l *lines, o *originalRequest, at *attempt, s *scratch) (decision, error) {
	var rd readings
	rd.addMethod(o.method)
	for _, v := range l.overrides[:l.nOverride] {
		if err := addOverride(&rd, s2b(v), s); err != nil {
			return decision{}, err
		}
	}
	if o.method == fasthttp.MethodPost {
		for _, q := range [...][]byte{o.query, o.otherQuery} {
			if err := addQueryOverrides(&rd, q, s); err != nil {
				return decision{}, err
			}
		}
	}
	return h.decide(hdr, l, &rd, o.path, at)
}

// originalRequest is the request an ingress asks about: its method, its
// normalised path and its raw query. The strings alias request memory or
// scratch and live as long as the request.
type originalRequest struct {
	method     string
	path       string
	query      []byte
	otherQuery []byte // the query of the other pair, when both name the request
}

// original is the request an ingress asks about. From a trusted peer each
// of the four headers that name it may come in one line only: a second
// line is a client's header passed on beside the ingress's own.
func original(rc *fasthttp.RequestCtx, l *lines, path string, trusted bool, s *scratch) (originalRequest, error) {
	o := originalRequest{method: bytesString(rc.Method())}
	if trusted {
		if l.repeatedOriginal() {
			return o, ErrAmbiguousOriginal
		}
		h := &rc.Request.Header
		fwd, orig := h.Peek(HeaderForwardedURI), h.Peek(HeaderOriginalURI)
		fwdMethod, origMethod := h.Peek(HeaderForwardedMethod), h.Peek(HeaderOriginalMethod)
		uri, m := fwd, fwdMethod
		switch {
		case len(fwd) > 0 && len(orig) > 0:
			// An ingress that passes client headers through (nginx
			// auth_request) would otherwise let a client's X-Forwarded-*
			// stand in for the X-Original-* the ingress set: both pairs
			// must agree.
			if !bytes.Equal(uriPath(fwd), uriPath(orig)) ||
				len(fwdMethod) > 0 && len(origMethod) > 0 && !bytes.Equal(fwdMethod, origMethod) {
				return o, ErrAmbiguousOriginal
			}
			if len(m) == 0 {
				m = origMethod
			}
			o.otherQuery = uriQuery(orig) // its "_method" counts as well
		case len(orig) > 0:
			uri, m = orig, origMethod
		}
		if len(uri) > 0 {
			if len(m) > 0 {
				if !ValidMethod(m) {
					return o, ErrBadMethod
				}
				o.method = bytesString(m)
			}
			var err error
			o.path, err = normalizeInto(s, uriPath(uri))
			o.query = uriQuery(uri)
			return o, err
		}
	}
	o.query = rc.URI().QueryString()
	// Envoy: the original path follows the prefix. It is normalised on its
	// own, so that ".." in it cannot climb out of the prefix.
	if raw := rc.URI().PathOriginal(); isVerifyRaw(raw) && len(raw) > len(VerifyPath) {
		var err error
		o.path, err = normalizeInto(s, raw[len(VerifyPath):])
		return o, err
	}
	if len(path) > len(VerifyPath) && IsVerifyPath(path) {
		o.path = path[len(VerifyPath):]
		return o, nil
	}
	o.path = path
	return o, nil
}

// normalizeInto normalises p into s.path and views the result as a string
// for the rest of the request.
func normalizeInto(s *scratch, p []byte) (string, error) {
	var err error
	s.path, err = appendNormalPath(s.path[:0], p)
	if err != nil {
		return "", err
	}
	return bytesString(s.path), nil
}

// uriQuery is the query of a request URI as an ingress reports it, without
// the "?" and the fragment; nil when there is none.
func uriQuery(uri []byte) []byte {
	if k := bytes.IndexByte(uri, '#'); k >= 0 {
		uri = uri[:k]
	}
	if k := bytes.IndexByte(uri, '?'); k >= 0 {
		return uri[k+1:]
	}
	return nil
}

// uriPath is the path of a request URI as an ingress reports it: the
// fragment and query cut off, and the scheme and authority of an
// absolute-form URI removed. An empty path is "/".
func uriPath(uri []byte) []byte {
	if k := bytes.IndexAny(uri, "?#"); k >= 0 {
		uri = uri[:k]
	}
	if k := bytes.Index(uri, []byte("://")); k >= 0 && bytes.IndexByte(uri[:k], '/') < 0 {
		uri = uri[k+3:]
		if k := bytes.IndexByte(uri, '/'); k >= 0 {
			uri = uri[k:]
		} else {
			uri = nil
		}
	}
	if len(uri) == 0 {
		return []byte("/")
	}
	return uri
}
