package proxy

import "time"

// UpstreamResult is how one upstream exchange ended.
type UpstreamResult uint8

// The results of an upstream exchange.
const (
	// UpstreamOK: the upstream answered with response headers, whatever
	// its status.
	UpstreamOK UpstreamResult = iota
	// UpstreamError: the connection was refused, reset or broken, or the
	// answer was not HTTP (502 UPSTREAM_UNAVAILABLE).
	UpstreamError
	// UpstreamTimeout: connecting, writing or waiting for the answer stalled
	// (504 UPSTREAM_TIMEOUT).
	UpstreamTimeout
)

func (r UpstreamResult) String() string {
	switch r {
	case UpstreamError:
		return "error"
	case UpstreamTimeout:
		return "timeout"
	}
	return "ok"
}

// Observer learns of upstream exchanges, for metrics. Options.Observer nil
// observes nothing.
type Observer interface {
	// Upstream is called once per distinct upstream when New builds the
	// Handler, with the upstream's host:port (never its URL, which may
	// carry a path). The returned function is called after every exchange
	// with that upstream, on the request path: it must be cheap, must not
	// allocate and must not block. d runs from sending the request to
	// receiving the response headers; the body streams afterwards.
	// Exchanges that failed because the client's request body failed are
	// not reported: they say nothing about the upstream.
	Upstream(host string) func(r UpstreamResult, d time.Duration)
}

// observe reports one exchange with up, if anyone listens.
func (up *upstream) observe(start time.Time, err error) {
	if up.observer == nil {
		return
	}
	r := UpstreamOK
	switch {
	case err == nil:
	case isTimeout(err):
		r = UpstreamTimeout
	default:
		r = UpstreamError
	}
	up.observer(r, time.Since(start))
}
