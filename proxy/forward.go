package proxy

import (
	"fmt"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
)

// Serve handles one request in proxy mode: path is its normalised path
// (NormalizePath of the raw path), the one the rules match and the upstream
// receives. On success the response (status, headers, streaming body) is set
// on rc; on error nothing is sent and the caller answers with the error.
//
// The decision reads every line of the client's header once (scanLines);
// the upstream request is then built from the same lines, as its own
// object (buildRequest), so what is decided is what is forwarded.
func (h *Handler) Serve(rc *fasthttp.RequestCtx, path string) error {
	ex := acquireExchange()
	s := &ex.s
	peer := peerAddr(rc)
	at := attempt{source: "proxy", path: path, peer: peer, requestID: requestID(&rc.Request.Header, s)}
	// Every answer carries the request id, errors included.
	rc.Response.Header.SetBytesV(HeaderRequestID, at.requestID)

	takeCookies(&rc.Request.Header, s)
	var l lines
	scanLines(&rc.Request.Header, &l)
	var rd readings
	rd.addMethod(bytesString(rc.Method()))
	if rc.IsPost() {
		if err := addQueryOverrides(&rd, rc.URI().QueryString(), s); err != nil {
			ex.release()
			return err
		}
	}
	d, err := h.decide(&rc.Request.Header, &l, &rd, path, &at)
	if err != nil {
		ex.release()
		return err
	}
	up := h.targets[d.route.index]
	if up == nil {
		ex.release()
		return ErrNoUpstream
	}
	var cred authn.Credentials
	if d.authed {
		cred = l.credentials()[d.cred]
	}
	if h.tunnels != nil && wantsWebSocket(&rc.Request.Header) {
		err := h.tunnel(rc, ex, up, path, &d, cred, h.trust.contains(peer))
		ex.release()
		return err
	}
	if err := h.forward(rc, ex, up, path, &d, cred, h.trust.contains(peer)); err != nil {
		ex.release()
		return err
	}
	return nil
}

// forward builds the upstream request from the client's (which is never
// modified), sends it, and sets the answer on rc. On success ex belongs to the response body (or was released); on
// error the caller releases it.
func (h *Handler) forward(rc *fasthttp.RequestCtx, ex *exchange, up *upstream, path string, d *decision, cred authn.Credentials, trusted bool) error {
	if err := h.checkBodySize(rc); err != nil {
		return err
	}
	req := &ex.req
	h.upstreamRequest(rc, ex, up, path, d, cred, trusted)

	switch {
	case rc.Request.IsBodyStream():
		if n := rc.Request.Header.ContentLength(); n != 0 {
			ex.in = requestBody{r: rc.RequestBodyStream(), rc: rc, timeout: h.timeout, limit: h.maxBody}
			req.SetBodyStream(&ex.in, n) // n < 0: chunked
		}
	default: // a server without StreamRequestBody has read the body already
		if b := rc.Request.Body(); len(b) > 0 {
			req.SetBodyRaw(b)
		}
	}

	resp, s := &ex.resp, &ex.s
	var start time.Time
	if up.observer != nil {
		start = time.Now()
	}
	err := up.client.Do(req, resp)
	ex.in.rc = nil
	if err != nil {
		if ex.in.err != nil {
			return fmt.Errorf("%w: %w", ErrClientBody, ex.in.err)
		}
		up.observe(start, err)
		return fmt.Errorf("%w (%s)", upstreamError(err), up.url)
	}
	up.observe(start, nil)

	resp.Header.CopyTo(&rc.Response.Header)
	rc.Response.Header.SetProtocol(http11) // the server downgrades for HTTP/1.0 clients itself
	stripResponse(&rc.Response.Header, s)
	rc.Response.Header.SetBytesV(HeaderRequestID, s.id)
	if !resp.IsBodyStream() {
		rc.Response.SetBody(resp.Body())
		ex.release()
		return nil
	}
	ex.out = responseBody{ex: ex, body: resp.BodyStream(), conn: rc.Conn(), timeout: h.timeout}
	n := resp.Header.ContentLength()
	if n < 0 {
		n = -1 // chunked towards the client, also for a body that ends with the connection
	}
	rc.Response.SetBodyStream(&ex.out, n)
	return nil
}

// upstreamRequest builds ex.req, the request the upstream receives, from the
// client's (which is never modified): the headers that may pass, the
// trusted identity, the request id, the forwarding headers and the target.
func (h *Handler) upstreamRequest(rc *fasthttp.RequestCtx, ex *exchange, up *upstream, path string, d *decision, cred authn.Credentials, trusted bool) {
	req, s := &ex.req, &ex.s
	buildRequest(&req.Header, &rc.Request.Header, trusted, cred, s) // HTTP/1.1 whatever the client spoke: keep-alive and chunked upstream
	if d.authed {
		setIdentity(&req.Header, &d.user, s, false)
		h.setAssertion(&req.Header, &d.user, false)
	}
	req.Header.SetBytesV(HeaderRequestID, s.id)
	setForwarded(rc, &req.Header, trusted, s)

	// The target is exactly the decided path plus the raw query: never the
	// raw request line, never a fragment, no userinfo from an absolute-form
	// request. The client's Host is kept (the upstream builds its own URLs
	// from it); without one, the upstream's address stands in.
	u := &ex.uri
	u.Reset()
	u.SetScheme("http") // the client's view: TLS, if any, is set up by the dialer (upstreamConn)
	u.SetHost(up.host)
	if up.prefix != "" {
		s.val = append(append(s.val[:0], up.prefix...), path...)
		u.SetPathBytes(s.val)
	} else {
		u.SetPath(path)
	}
	u.SetQueryStringBytes(rc.URI().QueryString())
	req.SetURI(u) // as given: the client's request line is never parsed again
	req.UseHostHeader = true
	if host := rc.Host(); len(host) > 0 {
		req.Header.SetHostBytes(host)
	} else {
		req.Header.SetHost(up.host)
	}
}

var http11 = []byte("HTTP/1.1")

// setForwarded sets X-Forwarded-For/-Proto/-Host. A trusted peer's values
// are extended (For) or kept (Proto, Host); anyone else's were left out by
// buildRequest and are replaced by what this connection shows.
func setForwarded(rc *fasthttp.RequestCtx, h *fasthttp.RequestHeader, trusted bool, s *scratch) {
	s.val = s.val[:0]
	if trusted {
		for _, v := range h.PeekAll(HeaderForwardedFor) {
			if len(s.val) > 0 {
				s.val = append(s.val, ", "...)
			}
			s.val = append(s.val, v...)
		}
	}
	if peer := peerAddr(rc); peer.IsValid() {
		if len(s.val) > 0 {
			s.val = append(s.val, ", "...)
		}
		s.val = peer.AppendTo(s.val)
	}
	h.Del(HeaderForwardedFor)
	if len(s.val) > 0 {
		h.SetBytesV(HeaderForwardedFor, s.val)
	}
	if !trusted || len(h.Peek(HeaderForwardedProto)) == 0 {
		if rc.IsTLS() {
			h.Set(HeaderForwardedProto, "https")
		} else {
			h.Set(HeaderForwardedProto, "http")
		}
	}
	if !trusted || len(h.Peek(HeaderForwardedHost)) == 0 {
		h.SetBytesV(HeaderForwardedHost, rc.Host())
	}
}
