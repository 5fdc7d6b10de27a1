package proxy

import (
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

// requestBody feeds the client's streamed body to the upstream request. It
// is used only while the handler runs (the upstream client writes the whole
// request before Do returns), so it may hold the RequestCtx.
type requestBody struct {
	r       io.Reader
	rc      *fasthttp.RequestCtx
	timeout time.Duration
	err     error // the first read error other than io.EOF: the client's fault
}

func (b *requestBody) Read(p []byte) (int, error) {
	// The server's ReadTimeout bounds the whole request; an upload of
	// hundreds of MiB needs an idle bound instead.
	if b.timeout > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	n, err := b.r.Read(p)
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
