package proxy

import "errors"

// Sentinel errors of the edge. The HTTP layer maps them to statuses and
// codes in one place (handlers/errors.go); the edge never writes an error
// response itself.
var (
	// ErrBadPath: the request path cannot be normalised safely (400
	// INVALID_PATH). See NormalizePath for what is refused.
	ErrBadPath = errors.New("proxy: path cannot be normalised safely")
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
	// original paths (X-Forwarded-Uri and X-Original-URI disagree), which
	// happens when an ingress passes a client's header on beside its own
	// (400 AMBIGUOUS_ORIGINAL).
	ErrAmbiguousOriginal = errors.New("proxy: the forwarded and original URI headers name different paths")
)
