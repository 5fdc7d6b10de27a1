package proxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// exchange is the pooled state of one forwarded request: the upstream
// request and response (never the client's objects), the body adapters and
// the header scratch space. It lives until the upstream response body has
// been written to the client, which happens after the handler returned.
type exchange struct {
	req  fasthttp.Request
	uri  fasthttp.URI
	resp fasthttp.Response
	in   requestBody
	out  responseBody
	s    scratch
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

func acquireExchange() *exchange {
	return exchanges.Get().(*exchange)
}

// release returns ex to the pool. Resetting the response closes its body
// stream: a fully read body hands the upstream connection back to the pool,
// anything else closes it.
func (ex *exchange) release() {
	ex.resp.Reset()
	ex.req.Reset()
	ex.in = requestBody{}
	ex.out = responseBody{}
	exchanges.Put(ex)
}

// ErrBodyTooLarge: the request body is over Options.MaxBodyBytes (413
// PAYLOAD_TOO_LARGE). A Content-Length over the limit is refused before
// anything is sent upstream; a chunked body is forwarded up to the limit
// and then cut, so the upstream sees a broken request, never a complete one.
// Once cut, it also reaches the caller wrapped with ErrClientBody.
var ErrBodyTooLarge = errors.New("proxy: the request body is over the limit")

// checkBodySize refuses a body whose declared length is over the limit.
// Chunked bodies declare none and are counted by requestBody as they stream.
func (h *Handler) checkBodySize(rc *fasthttp.RequestCtx) error {
	if h.maxBody <= 0 {
		return nil
	}
	if int64(rc.Request.Header.ContentLength()) > h.maxBody ||
		(!rc.Request.IsBodyStream() && int64(len(rc.Request.Body())) > h.maxBody) {
		return ErrBodyTooLarge
	}
	return nil
}

// requestBody feeds the client's streamed body to the upstream request. It
// is used only while the handler runs (the upstream client writes the whole
// request before Do returns), so it may hold the RequestCtx.
type requestBody struct {
	r       io.Reader
	rc      *fasthttp.RequestCtx
	timeout time.Duration
	limit   int64 // at most this many bytes pass (Options.MaxBodyBytes); 0: no limit
	n       int64 // bytes read so far
	err     error // the first read error other than io.EOF: the client's fault
}

func (b *requestBody) Read(p []byte) (int, error) {
	if b.limit > 0 {
		if b.n > b.limit {
			return 0, ErrBodyTooLarge // cut already
		}
		// Read at most one byte past the limit: enough to tell a body that
		// ends at the limit from one that runs over it.
		if rest := b.limit - b.n + 1; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	// The server's ReadTimeout bounds the whole request; an upload of
	// hundreds of MiB needs an idle bound instead.
	if b.timeout > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.limit > 0 && b.n > b.limit {
		// Pass what is within the limit, then cut the stream.
		n -= int(b.n - b.limit)
		b.n = b.limit + 1
		err = ErrBodyTooLarge
	}
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// responseBody streams the upstream response body to the client. The
// server reads it after the handler has returned and then calls
// CloseWithError, which releases the exchange: the upstream response is
// released only once its body has been written (or the write failed).
type responseBody struct {
	ex      *exchange
	body    io.Reader
	conn    net.Conn // the client connection, to extend its write deadline
	timeout time.Duration
}

func (b *responseBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	// The server's WriteTimeout bounds the whole response; give each chunk
	// its own time instead, so a large download does not time out midway.
	if n > 0 && b.conn != nil && b.timeout > 0 {
		_ = b.conn.SetWriteDeadline(time.Now().Add(b.timeout))
	}
	return n, err
}

// CloseWithError implements fasthttp.ReadCloserWithError.
func (b *responseBody) CloseWithError(error) error {
	if ex := b.ex; ex != nil {
		b.ex = nil
		ex.release()
	}
	return nil
}

var _ fasthttp.ReadCloserWithError = (*responseBody)(nil)
