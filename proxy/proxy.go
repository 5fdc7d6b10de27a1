// Package proxy is the edge: it normalises request paths, matches them
// against the route rules, resolves the caller, and then either forwards the
// request to its upstream with the trusted identity headers attached (proxy
// mode) or answers the same decision to an ingress that forwards itself
// (forward-auth). It never writes an error response: it returns sentinel
// errors (errors.go) and authn's, which the HTTP layer maps in one place.
package proxy

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"time"

	"github.com/zectre/zectre-auth/audit"
	"github.com/zectre/zectre-auth/config"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds each step of an upstream exchange: connecting,
	// each write of the request and each read of the response (an idle
	// timeout, so a large body streams for as long as it keeps moving).
	DefaultTimeout = time.Duration(config.DefaultUpstreamTimeout)
	// DefaultMaxConns caps the connections to one upstream.
	DefaultMaxConns = 1024
	// DefaultIdleConnTimeout closes pooled upstream connections idle this
	// long. It is kept below the 5 s keep-alive timeout of common upstream
	// servers (Node.js, uvicorn), so the proxy drops an idle connection
	// before the upstream does and rarely sends a request into a closing
	// one (which it cannot retry when the request has a body).
	DefaultIdleConnTimeout = 4 * time.Second
)

// Options configure New.
type Options struct {
	// Routes are the rules, first match wins.
	Routes []config.Route
	// Upstream is the default upstream base URL; "" means none, so requests
	// without a route upstream answer 404.
	Upstream string
	// DefaultAuth applies to requests no rule matches; "" means
	// config.DefaultDefaultAuth (optional).
	DefaultAuth config.AuthMode
	// Trusted are the peers whose X-Forwarded-* and X-Original-* headers are
	// believed (config.Config.TrustedPrefixes()). Empty: nobody.
	Trusted []netip.Prefix
	// Resolver resolves credentials; *authn.Resolver. Required.
	Resolver Resolver
	// Audit receives a line per authentication attempt; nil writes none.
	// The lines name the error code answered through the coder the writer
	// was made with (audit.New), so the edge needs no HTTP mapping of its own.
	Audit *audit.Writer
	// Timeout is the idle timeout of each upstream step; 0 means
	// DefaultTimeout. It also bounds how long a client may stall while its
	// request body or the response is streamed.
	Timeout time.Duration
	// MaxConnsPerUpstream; 0 means DefaultMaxConns.
	MaxConnsPerUpstream int
	// IdleConnTimeout; 0 means DefaultIdleConnTimeout.
	IdleConnTimeout time.Duration
	// Observer learns of every upstream exchange (result and time to the
	// response headers), for metrics; nil observes nothing.
	Observer Observer
	// MaxBodyBytes caps a request body the edge forwards (config
	// max_proxy_body_bytes): a larger Content-Length is refused before
	// anything is sent upstream, and a chunked body is cut once it runs
	// over, both ErrBodyTooLarge. 0 means no limit.
	MaxBodyBytes int
	// TLSConfig is the base of the TLS settings for https upstreams (root
	// CAs of an internal PKI, client certificates); nil means the system
	// roots. Each upstream gets a copy with its own ServerName.
	TLSConfig *tls.Config
	// Tunnels are the process's WebSocket tunnels, shared by every edge it
	// builds (a reload keeps them); nil: WebSocket upgrades are stripped
	// like every other upgrade and never tunnel.
	Tunnels *Tunnels
	// Identity mints the X-Zectre-Identity assertion of every identified
	// caller (config identity_assertion); nil: no assertion is sent.
	Identity Asserter
}

// Handler is the edge. Serve and Verify are safe for concurrent use.
type Handler struct {
	rules    *Rules
	targets  []*upstream // by Route.index; nil where the route has no upstream
	resolver Resolver
	trust    trust
	audit    *audit.Writer
	timeout  time.Duration
	maxBody  int64 // Options.MaxBodyBytes; 0: no limit
	tunnels  *Tunnels
	identity Asserter // nil: assertions off
}

// New compiles the rules and sets up one pooled client per distinct
// upstream. It fails on a rule or upstream URL it cannot use.
func New(o Options) (*Handler, error) {
	if o.Resolver == nil {
		return nil, errors.New("proxy: a resolver is required")
	}
	rules, err := Compile(o.Routes, o.Upstream, o.DefaultAuth)
	if err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxConnsPerUpstream <= 0 {
		o.MaxConnsPerUpstream = DefaultMaxConns
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = DefaultIdleConnTimeout
	}
	h := &Handler{
		rules: rules, resolver: o.Resolver, trust: trust(append([]netip.Prefix(nil), o.Trusted...)),
		audit: o.Audit, timeout: o.Timeout, maxBody: int64(max(o.MaxBodyBytes, 0)),
		tunnels: o.Tunnels, identity: o.Identity,
	}
	byURL := map[string]*upstream{}
	for _, rt := range rules.Routes() {
		var up *upstream
		if rt.Upstream != "" {
			if up = byURL[rt.Upstream]; up == nil {
				if up, err = newUpstream(rt.Upstream, o); err != nil {
					return nil, err
				}
				byURL[rt.Upstream] = up
			}
		}
		h.targets = append(h.targets, up)
	}
	return h, nil
}

// Rules returns the compiled rules.
func (h *Handler) Rules() *Rules { return h.rules }

// Close closes the idle upstream connections. Call it after the server has
// stopped; connections in use close as their exchanges end.
func (h *Handler) Close() {
	seen := map[*upstream]bool{}
	for _, up := range h.targets {
		if up != nil && !seen[up] {
			seen[up] = true
			up.client.CloseIdleConnections()
		}
	}
}
