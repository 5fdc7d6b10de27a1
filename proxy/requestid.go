package proxy

import (
	"math/rand/v2"

	"github.com/valyala/fasthttp"
)

// maxRequestIDLength bounds a client's X-Request-Id that is passed on.
const maxRequestIDLength = 128

// validRequestID reports whether a client's X-Request-Id may be kept: 1 to
// 128 of A-Z a-z 0-9 . _ : -. Anything else (empty, long, spaces, quotes,
// control bytes) could break log lines downstream and is replaced.
func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > maxRequestIDLength {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// appendRequestID appends a new request id: 128 random bits as 32 hex
// digits. It correlates log lines and is no secret, so the runtime's fast
// per-thread generator is enough; crypto/rand would cost more than the rest
// of a cached forward-auth decision.
func appendRequestID(dst []byte) []byte {
	const hexDigits = "0123456789abcdef"
	for _, v := range [2]uint64{rand.Uint64(), rand.Uint64()} {
		for s := 60; s >= 0; s -= 4 {
			dst = append(dst, hexDigits[v>>uint(s)&15])
		}
	}
	return dst
}

// AppendRequestID appends the request id of a request with header h: the
// client's X-Request-Id when well formed (the rule of the edge), else a new
// one. The Authentication API answers with it, so that every answer of the
// service carries an id chosen by one rule.
func AppendRequestID(dst []byte, h *fasthttp.RequestHeader) []byte {
	if v := h.Peek(HeaderRequestID); validRequestID(v) {
		return append(dst, v...)
	}
	return appendRequestID(dst)
}
