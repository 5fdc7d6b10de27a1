package proxy

import "errors"

// Sentinel errors of the edge. The HTTP layer maps them to statuses and
// codes in one place (handlers/errors.go); the edge never writes an error
// response itself.
var (
	// ErrBadPath: the request path cannot be normalised safely (400
	// INVALID_PATH). See NormalizePath for what is refused.
	ErrBadPath = errors.New("proxy: path cannot be normalised safely")
	// ErrBadMethod: the request's method, or a method an override or an
	// ingress names, is not an uppercase token (400 INVALID_METHOD). See
	// ValidMethod.
	ErrBadMethod = errors.New("proxy: the method is not an uppercase token")
	// ErrHTTPVersion: the request line names a protocol other than HTTP/1.1
	// or HTTP/1.0 (505 HTTP_VERSION_NOT_SUPPORTED).
	ErrHTTPVersion = errors.New("proxy: HTTP version not supported")
	// ErrUnexpectedSwitch: the upstream switched protocols (101) on a
	// request that did not ask it to (502 UPSTREAM_UNAVAILABLE); the
	// connection is closed, never reused.
	ErrUnexpectedSwitch = errors.New("proxy: the upstream switched protocols unasked")
	// ErrNoUpstream: no rule names an upstream for the request and there is
	// no default upstream (404 NOT_FOUND).
	ErrNoUpstream = errors.New("proxy: no upstream for this request")
	// ErrUpstreamUnavailable: the upstream refused, reset or broke the
	// connection, or answered with something that is not HTTP (502
	// UPSTREAM_UNAVAILABLE).
	ErrUpstreamUnavailable = errors.New("proxy: upstream unavailable")
	// ErrUpstreamTimeout: the upstream did not accept, read or answer within
	// the timeout (504 UPSTREAM_TIMEOUT).
	ErrUpstreamTimeout = errors.New("proxy: upstream timed out")
	// ErrClientBody: reading the client's request body failed while it was
	// being forwarded, e.g. the client hung up mid-upload (400 BAD_REQUEST).
	ErrClientBody = errors.New("proxy: reading the request body failed")
	// ErrAmbiguousOriginal: a forward-auth request names two different
	// original paths or methods (X-Forwarded-Uri and X-Original-URI
	// disagree, or one of them comes in more than one line), which happens
	// when an ingress passes a client's header on beside its own (400
	// AMBIGUOUS_ORIGINAL).
	ErrAmbiguousOriginal = errors.New("proxy: the forwarded and original URI headers name different paths")
	// ErrTooManyTunnels: max_websocket_conns WebSocket tunnels are open, or
	// the process is shutting down (503 SERVICE_UNAVAILABLE).
	ErrTooManyTunnels = errors.New("proxy: too many open WebSocket tunnels")
)
