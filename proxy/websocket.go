package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
)

// maxRefusalBody caps the body of an upstream's answer to an upgrade it
// did not accept (a 401, 403 or 426): it is relayed whole, from memory.
const maxRefusalBody = 1 << 20

// wantsWebSocket reports whether the client asks to upgrade to WebSocket
// (RFC 6455 §4.1): a GET over HTTP/1.1 without a body, Connection naming
// the token upgrade and Upgrade naming websocket, in any case and within
// token lists. Any other upgrade (h2c, TLS/1.x, unknown) is no WebSocket
// and is stripped as every hop-by-hop header is: it never tunnels.
func wantsWebSocket(h *fasthttp.RequestHeader) bool {
	// A request without a length reads as -2 (no body); -1 is chunked.
	if n := h.ContentLength(); !h.IsGet() || !h.IsHTTP11() || n > 0 || n == -1 {
		return false
	}
	return headerHasToken(h.PeekAll(fasthttp.HeaderConnection), "upgrade") &&
		headerHasToken(h.PeekAll(fasthttp.HeaderUpgrade), "websocket")
}

// headerHasToken reports whether a comma-separated list in any of the
// lines holds tok, compared case-insensitively.
func headerHasToken(lines [][]byte, tok string) bool {
	for _, v := range lines {
		for len(v) > 0 {
			k := bytes.IndexByte(v, ',')
			if k < 0 {
				k = len(v)
			}
			if bytes.EqualFold(bytes.TrimSpace(v[:k]), []byte(tok)) {
				return true
			}
			if k == len(v) {
				break
			}
			v = v[k+1:]
		}
	}
	return false
}

var (
	valueUpgrade   = []byte("Upgrade")
	valueWebSocket = []byte("websocket")
)

// tunnel forwards a decided WebSocket upgrade over a connection of its own
// (a switched connection carries no more HTTP, so it never comes from or
// goes back to the pool) and, on the upstream's 101, relays it and hands
// the client connection to a tunnel. Any other answer is relayed as it is
// and no tunnel opens.
func (h *Handler) tunnel(rc *fasthttp.RequestCtx, ex *exchange, up *upstream, path string, d *decision, cred authn.Credentials, trusted bool) error {
	t := h.tunnels
	if !t.reserve() {
		t.count(TunnelLimit)
		return ErrTooManyTunnels
	}
	opened := false
	defer func() {
		if !opened {
			t.release()
		}
	}()
	req := &ex.req
	h.upstreamRequest(rc, ex, up, path, d, cred, trusted)
	// buildRequest removed every hop-by-hop header; the upgrade decided on
	// is put back, alone.
	req.Header.SetCanonical([]byte(fasthttp.HeaderConnection), valueUpgrade)
	req.Header.SetCanonical([]byte(fasthttp.HeaderUpgrade), valueWebSocket)
	req.URI().DisablePathNormalizing = true

	var start time.Time
	if up.observer != nil {
		start = time.Now()
	}
	conn, err := up.dial()
	if err != nil {
		t.count(TunnelError)
		up.observe(start, err)
		return fmt.Errorf("%w (%s)", upstreamError(err), up.url)
	}
	resp := &ex.resp
	br, err := h.exchangeHead(conn, req, resp)
	up.observe(start, err)
	if err != nil {
		_ = conn.Close()
		t.count(TunnelError)
		return fmt.Errorf("%w (%s)", upstreamError(err), up.url)
	}
	s := &ex.s
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		// The upstream refused the upgrade: its answer is the client's.
		_ = conn.SetReadDeadline(time.Now().Add(h.timeout))
		err := resp.ReadBody(br, maxRefusalBody)
		_ = conn.Close()
		if err != nil {
			t.count(TunnelError)
			return fmt.Errorf("%w (%s)", upstreamError(err), up.url)
		}
		t.count(TunnelRefused)
		resp.Header.CopyTo(&rc.Response.Header)
		rc.Response.Header.SetProtocol(http11)
		stripResponse(&rc.Response.Header, s)
		rc.Response.Header.SetBytesV(HeaderRequestID, s.id)
		rc.Response.SetBody(resp.Body())
		return nil
	}
	if !headerHasToken(resp.Header.PeekAll(fasthttp.HeaderUpgrade), "websocket") {
		_ = conn.Close()
		t.count(TunnelError)
		return fmt.Errorf("%w: %w (%s)", ErrUpstreamUnavailable, ErrUnexpectedSwitch, up.url)
	}
	stripResponse(&resp.Header, s)
	resp.Header.SetCanonical([]byte(fasthttp.HeaderConnection), valueUpgrade)
	resp.Header.SetCanonical([]byte(fasthttp.HeaderUpgrade), valueWebSocket)
	resp.Header.SetBytesV(HeaderRequestID, s.id)
	head := bytes.Clone(resp.Header.Header())

	tn := &tunnel{tunnels: t, userID: d.user.ID}
	if d.authed {
		// The credential is kept (a copy: the request's bytes are reused)
		// to be decided again when the cache learns of a change to its key
		// or user.
		c := authn.Credentials{Authorization: strings.Clone(cred.Authorization), APIKey: strings.Clone(cred.APIKey)}
		if c.APIKey != "" {
			tn.keyDigest, tn.hasKey = authn.KeyDigest(c.APIKey), true
		}
		resolver := h.resolver
		tn.recheckFn = func(ctx context.Context) error {
			_, err := resolver.Resolve(ctx, c)
			return err
		}
	}
	tn.up = pipe{dst: conn, masked: true, bytes: &t.toUpstream}
	// What the upstream sent after its head is kept; the 16 KiB reader
	// that read the head is not: an idle tunnel should cost little.
	var src io.Reader = conn
	if n := br.Buffered(); n > 0 {
		rest, _ := br.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(rest)), conn)
	}
	tn.client = pipe{src: src, srcC: conn, bytes: &t.toClient}
	if !t.add(tn) {
		_ = conn.Close()
		t.count(TunnelLimit)
		return ErrTooManyTunnels // shutting down
	}
	opened = true
	t.count(TunnelOpened)
	// The 101 head is written by the tunnel itself, on the hijacked
	// connection: the server must not answer in its own words.
	rc.SetStatusCode(fasthttp.StatusSwitchingProtocols) // what the request metrics count
	rc.HijackSetNoResponse(true)
	rc.Hijack(func(c net.Conn) { tn.run(c, head) })
	return nil
}

// exchangeHead writes req on conn and reads the head of the final answer
// (interim answers other than 101 are passed over), each step bounded by
// the upstream timeout. The reader it returns holds what followed the head.
func (h *Handler) exchangeHead(conn net.Conn, req *fasthttp.Request, resp *fasthttp.Response) (*bufio.Reader, error) {
	bw := bufio.NewWriterSize(conn, 4<<10)
	_ = conn.SetWriteDeadline(time.Now().Add(h.timeout))
	if err := req.Write(bw); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Time{})
	br := bufio.NewReaderSize(conn, 16<<10) // response headers up to 16 KiB, as the pooled client reads them
	for {
		_ = conn.SetReadDeadline(time.Now().Add(h.timeout))
		if err := resp.Header.Read(br); err != nil {
			return nil, err
		}
		if c := resp.StatusCode(); c == fasthttp.StatusSwitchingProtocols || c < 100 || c >= 200 {
			break
		}
		resp.Header.Reset()
	}
	_ = conn.SetReadDeadline(time.Time{})
	return br, nil
}
