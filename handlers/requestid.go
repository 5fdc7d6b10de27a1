package handlers

import (
	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/proxy"
)

// answerRequestID makes the answer carry X-Request-Id, so that a client can
// quote any answer of the service (success or error, the API, the health
// checks, the login page) and it can be found in the logs: the id the edge
// already answered with, else the client's when well formed (the edge's
// rule), else a new one. Audit and log lines read it back (requestID).
func answerRequestID(rc *fasthttp.RequestCtx) {
	h := &rc.Response.Header
	if len(h.Peek(proxy.HeaderRequestID)) > 0 {
		return
	}
	var buf [128]byte
	h.SetBytesV(proxy.HeaderRequestID, proxy.AppendRequestID(buf[:0], &rc.Request.Header))
}
