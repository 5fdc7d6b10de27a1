package proxy

import (
	"bytes"
	"net"
	"net/netip"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// trust is the set of peers whose X-Forwarded-* and X-Original-* headers
// are believed (config trusted_proxies).
type trust []netip.Prefix

func (t trust) contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the address of the TCP peer, without allocating.
func peerAddr(rc *fasthttp.RequestCtx) netip.Addr {
	switch a := rc.RemoteAddr().(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// clientAddr is the address a request is attributed to in audit lines and
// limits: the peer, or, when the peer is a trusted proxy, the right-most
// address in X-Forwarded-For that is not itself trusted (the left-most
// entries are the client's own claims and may be forged). Every
// X-Forwarded-For line counts, joined in order, as they are when forwarded:
// a trusted proxy that appends a line of its own after the client's puts
// the client's address last, where the first line alone would let the
// client choose it.
func clientAddr(h *fasthttp.RequestHeader, peer netip.Addr, t trust) netip.Addr {
	if !t.contains(peer) {
		return peer
	}
	lines := h.PeekAll(HeaderForwardedFor)
	for i := len(lines) - 1; i >= 0; i-- {
		xff := lines[i]
		for {
			k := bytes.LastIndexByte(xff, ',')
			item := bytes.TrimSpace(xff[k+1:])
			// The string does not outlive this call: ParseAddr copies
			// what it keeps (an IPv6 zone is interned).
			a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(item), len(item)))
			if err != nil {
				return peer
			}
			if a = a.Unmap(); !t.contains(a) {
				return a
			}
			peer = a
			if k < 0 {
				break
			}
			xff = xff[:k]
		}
	}
	return peer
}

// ClientAddr is the address a request is attributed to (rate limits, audit
// lines): the peer, or, when the peer is one of trusted, the right-most
// X-Forwarded-For entry that is not itself trusted.
func ClientAddr(rc *fasthttp.RequestCtx, trusted []netip.Prefix) netip.Addr {
	return clientAddr(&rc.Request.Header, peerAddr(rc), trust(trusted))
}
