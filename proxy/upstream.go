package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// upstream is one upstream base URL with its own pool of keep-alive
// connections.
type upstream struct {
	url    string // as configured, for logs
	scheme string
	host   string // host:port, also the Host of a request that had none
	prefix string // base path in normal form without a trailing "/", or ""
	client *fasthttp.HostClient
	// dial opens a connection of its own to the upstream, TLS set up: for
	// a WebSocket tunnel, which never returns to the pool.
	dial func() (net.Conn, error)
	// observer records each exchange (Options.Observer); nil: nobody listens.
	observer func(UpstreamResult, time.Duration)
}

// newUpstream parses a base URL (http or https, host, optional base path)
// and builds its client. Requests go to prefix + the normalised path.
func newUpstream(raw string, o Options) (*upstream, error) {
	u, err := url.Parse(raw)
	// Errors name the upstream by its host only: the URL may hold a password.
	name := "(unparsable URL)"
	if err == nil {
		name = u.Host
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("proxy: upstream %s: not a URL", name)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("proxy: upstream %q: scheme must be http or https", name)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("proxy: upstream %q: missing host", name)
	case u.User != nil:
		return nil, fmt.Errorf("proxy: upstream %q: credentials in the URL are not supported", name)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("proxy: upstream %q: must not have a query or fragment", name)
	}
	up := &upstream{url: raw, scheme: u.Scheme, host: u.Host}
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		up.host = net.JoinHostPort(u.Hostname(), port)
	}
	if p := u.EscapedPath(); p != "" && p != "/" {
		norm, err := NormalizePath([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("proxy: upstream %q: base path cannot be normalised", name)
		}
		up.prefix = strings.TrimSuffix(norm, "/")
	}
	tlsConfig := &tls.Config{}
	if o.TLSConfig != nil {
		tlsConfig = o.TLSConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = u.Hostname() // SNI and the name the certificate is checked against
	}
	tlsConfig.MinVersion = max(tlsConfig.MinVersion, tls.VersionTLS12)
	timeout := o.Timeout
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	up.dial = func() (net.Conn, error) {
		c, err := dialer.Dial("tcp", up.host)
		if err != nil {
			return nil, err
		}
		if u.Scheme == "https" {
			tc := tls.Client(c, tlsConfig)
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = c.Close()
				return nil, err
			}
			c = tc
		}
		return c, nil
	}
	up.client = &fasthttp.HostClient{
		Addr: up.host,
		// TLS is set up here rather than by the client (IsTLS), so that
		// upstreamConn sees the plaintext of the responses it watches.
		Dial: func(string) (net.Conn, error) {
			c, err := up.dial()
			if err != nil {
				return nil, err
			}
			return &upstreamConn{Conn: c, timeout: timeout}, nil
		},
		// The client's own ReadTimeout/WriteTimeout would bound the whole
		// response; upstreamConn bounds each read and write instead, so that
		// bodies of any size stream while they keep moving.
		MaxConns:                  o.MaxConnsPerUpstream,
		MaxConnWaitTimeout:        timeout,
		MaxIdleConnDuration:       o.IdleConnTimeout,
		MaxIdemponentCallAttempts: 2,
		RetryIfErr:                retryStaleConn,
		ReadBufferSize:            16 << 10, // response headers up to 16 KiB (cookies)
		NoDefaultUserAgentHeader:  true,
		DisablePathNormalizing:    true, // send exactly the path that was decided on
		StreamResponseBody:        true,
	}
	if o.Observer != nil {
		up.observer = o.Observer.Upstream(up.host)
	}
	return up, nil
}

// retryStaleConn retries an idempotent request without a body once when the
// connection broke before any answer: a pooled keep-alive connection the
// upstream had just closed. Requests with a streamed body are never retried
// (fasthttp cannot replay them), and timeouts are not either: the upstream
// may still be working on the first attempt.
func retryStaleConn(req *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	if !(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		return false, false
	}
	h := &req.Header
	return false, h.IsGet() || h.IsHead() || h.IsOptions() || h.IsPut() || h.IsDelete()
}

// upstreamError classifies a failed exchange: a timeout anywhere (dial,
// write, read) is ErrUpstreamTimeout, anything else ErrUpstreamUnavailable.
func upstreamError(err error) error {
	if isTimeout(err) {
		return fmt.Errorf("%w: %w", ErrUpstreamTimeout, err)
	}
	return fmt.Errorf("%w: %w", ErrUpstreamUnavailable, err)
}

// isTimeout reports whether a failed exchange stalled (dial, write or read).
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &te) && te.Timeout())
}
