// Package handlers serves the Authentication API (part A of the contract):
// signup, login, the current user, the CLI login flow and API keys. JSON in,
// JSON out; every error goes through one adapter (errors.go).
package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/audit"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/proxy"
	"github.com/zectre/zectre-auth/secretscan"
	"github.com/zectre/zectre-auth/store"
)

// CLICodeTTL is how long a CLI login code can be completed.
const CLICodeTTL = 10 * time.Minute

// API holds what the handlers need. Every field is required except Now,
// Log and Audit: Now and Log default to time.Now and slog.Default(); without
// Audit the lines of authentication attempts go to Log.
type API struct {
	Store     store.Store
	Resolver  *authn.Resolver
	Passwords *authn.Passwords
	Tokens    *authn.Tokens
	Limits    *authn.Limits
	// AuthURLBase is the base of the CLI flow's auth_url: the dashboard, or
	// this service when it serves the login page itself.
	AuthURLBase string
	Now         func() time.Time
	Log         *slog.Logger
	// Audit receives one line per authentication attempt (shared with the
	// edge, so that both write through one buffered writer). Make it with
	// audit.New(w, ErrorCode), so that its lines name the codes answered.
	Audit *audit.Writer
	// Trusted are the proxies whose X-Forwarded-For names the client (config
	// trusted_proxies); from anyone else the TCP peer is the client.
	Trusted []netip.Prefix
	// ServeCLIPage serves the built-in CLI login page at /auth/cli (and its
	// assets). On when no dashboard is configured, so that auth_url points
	// at this service; off, /auth/cli belongs to the edge like any path.
	ServeCLIPage bool
	// MaxBodyBytes caps a request body of the API (config max_body_bytes);
	// more is 413 PAYLOAD_TOO_LARGE. 0 means MaxBodySize.
	MaxBodyBytes int
	// IdentityJWKS is the JWKS of the identity assertions, served at
	// JWKSPath; nil (assertions off): the path is not the service's and
	// goes through the edge like any other.
	IdentityJWKS []byte
	// SecretScanning verifies leak reports (config secret_scanning_keys_url);
	// nil: POST /api/v1/secret-scanning/github answers 404.
	SecretScanning *secretscan.Verifier

	draining atomic.Bool // set by StartDraining: /readyz answers 503
}

type handlerFunc func(ctx context.Context, rc *fasthttp.RequestCtx) error

// requestTimeout bounds the work of one request: store calls, hashing.
const requestTimeout = 30 * time.Second

// handle adapts a handler that returns an error to fasthttp.
func (a *API) handle(h handlerFunc) fasthttp.RequestHandler {
	return func(rc *fasthttp.RequestCtx) {
		answerRequestID(rc)
		if err := readBody(rc, a.MaxBodyBytes); err != nil {
			writeError(rc, a.Log, err)
			return
		}
		// A context of its own: the RequestCtx is recycled after the handler
		// returns, so nothing that may outlive it (context watchers of
		// derived contexts, drivers) may hold it.
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		if err := h(ctx, rc); err != nil {
			writeError(rc, a.Log, err)
		}
	}
}

// register adds every route of the Authentication API to r.
func (a *API) register(r *router.Router) {
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Log == nil {
		a.Log = slog.Default()
	}
	r.POST("/api/v1/auth/signup", a.handle(a.signup))
	r.POST("/api/v1/auth/login", a.handle(a.login))
	r.GET("/api/v1/user", a.handle(a.authed(a.currentUser)))
	r.POST("/api/v1/auth/password", a.handle(a.authed(a.changePassword)))
	r.POST("/api/v1/auth/sessions/revoke", a.handle(a.authed(a.needScope(authn.ScopeAll, a.revokeSessions))))
	r.POST("/api/v1/auth/cli/initiate", a.handle(a.cliInitiate))
	r.GET("/api/v1/auth/cli/status/{code}", a.handle(a.cliStatus))
	r.POST("/api/v1/auth/cli/complete", a.handle(a.cliComplete))
	r.GET("/api/v1/api-keys", a.handle(a.authed(a.needScope(authn.ScopeAll, a.listKeys))))
	r.POST("/api/v1/api-keys", a.handle(a.authed(a.needScope(authn.ScopeAll, a.createKey))))
	r.DELETE("/api/v1/api-keys/{id}", a.handle(a.authed(a.needScope(authn.ScopeAll, a.deleteKey))))
	r.POST("/api/v1/secret-scanning/github", a.handle(a.secretScanningGitHub))
	r.POST("/api/v1/api-keys/{id}/roll", a.handle(a.authed(a.needScope(authn.ScopeAll, a.rollKey))))
	if a.ServeCLIPage {
		a.registerCLIPage(r)
	}
	// Health checks and the login page also answer HEAD (the same answer
	// without its body): some probes and link checkers send it.
	if a.IdentityJWKS != nil {
		r.GET(JWKSPath, a.handle(a.jwks))
		r.HEAD(JWKSPath, a.handle(a.jwks))
	}
	r.GET("/healthz", a.handle(a.healthz))
	r.HEAD("/healthz", a.handle(a.healthz))
	r.GET("/readyz", a.handle(a.readyz))
	r.HEAD("/readyz", a.handle(a.readyz))
}

// newRouter returns a router with the API's routes and JSON answers for
// unknown paths, wrong methods and panics. It never redirects: a path is
// served as it was asked for, or not at all.
func newRouter(a *API) *router.Router {
	r := router.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.HandleOPTIONS = false
	a.register(r)
	r.NotFound = func(rc *fasthttp.RequestCtx) { writeError(rc, a.Log, errNotFound) }
	r.MethodNotAllowed = func(rc *fasthttp.RequestCtx) { writeError(rc, a.Log, errMethod) }
	r.PanicHandler = func(rc *fasthttp.RequestCtx, v any) {
		a.Log.Error("handler panicked", "panic", v, "path", string(rc.Path()))
		writeError(rc, a.Log, errInternal)
	}
	return r
}

// ServerLimits bound what one request may send and how long it may take.
// A zero field takes its default.
type ServerLimits struct {
	// MaxHeaderBytes caps the request line plus headers (config
	// max_header_bytes); more is 431 HEADERS_TOO_LARGE. Default
	// config.DefaultMaxHeaderBytes (16 KiB).
	MaxHeaderBytes int
	// ReadTimeout bounds the time from a connection's open (on a kept-alive
	// connection: from the first byte of the next request) to the end of the
	// request's headers, and of its body for the Authentication API (config
	// read_timeout): a client that trickles its headers (slowloris) is cut
	// off then. Default config.DefaultReadTimeout (30 s).
	ReadTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends no next request
	// for this long (config idle_timeout). Default config.DefaultIdleTimeout
	// (2 min).
	IdleTimeout time.Duration
}

// NewServer returns a fasthttp server for h (Front.Serve) answering
// requests it cannot read with the JSON error envelope.
// limits, at most one, bound requests; without it every bound has its
// default.
//
// Request bodies are streamed: the handler runs once the headers and at
// most 8 KiB of the body are read, and reads the rest itself, so that an
// upload through the edge passes without being held in memory. Body limits
// are the handlers': the Authentication API applies its own while reading
// (readBody, API.MaxBodyBytes), the edge while forwarding
// (proxy.Options.MaxBodyBytes); MaxRequestBodySize here only sizes what
// the server reads ahead. ReadTimeout and WriteTimeout bound a request and
// its answer; the edge turns them into idle timeouts while it streams.
func NewServer(h fasthttp.RequestHandler, log *slog.Logger, limits ...ServerLimits) *fasthttp.Server {
	var l ServerLimits
	if len(limits) > 0 {
		l = limits[0]
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = config.DefaultMaxHeaderBytes
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = config.DefaultReadTimeout.Std()
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = config.DefaultIdleTimeout.Std()
	}
	return &fasthttp.Server{
		Handler:            h,
		Name:               "zectre-auth",
		StreamRequestBody:  true,
		MaxRequestBodySize: MaxBodySize,
		// A multipart upload is forwarded as it is, not parsed into
		// temporary files.
		DisablePreParseMultipartForm: true,
		ReadTimeout:                  l.ReadTimeout,
		WriteTimeout:                 30 * time.Second,
		IdleTimeout:                  l.IdleTimeout,
		// The request line and headers must fit in the read buffer: a
		// request whose headers do not is answered 431.
		ReadBufferSize:        l.MaxHeaderBytes,
		NoDefaultServerHeader: true,
		Logger:                connLogger{log},
		ErrorHandler: func(rc *fasthttp.RequestCtx, err error) {
			writeError(rc, log, readError(err))
		},
	}
}

// readError classifies a failure to read a request.
func readError(err error) error {
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return errTooLarge
	case errors.As(err, new(*fasthttp.ErrSmallBuffer)):
		return errHeaderTooLarge
	case isTimeout(err):
		return errTimeout.wrap(err)
	case strings.Contains(err.Error(), "unsupported http version"):
		// A version fasthttp cannot parse ("http/1.1", "HTTP/2"): the
		// same answer as for one it parses and the front refuses.
		return fmt.Errorf("%w: %w", proxy.ErrHTTPVersion, err)
	default:
		return errBadRequest.wrap(err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (a *API) healthz(ctx context.Context, rc *fasthttp.RequestCtx) error {
	writeJSON(rc, fasthttp.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// StartDraining makes /readyz answer 503 from now on, so that load
// balancers stop sending traffic before the listener closes.
func (a *API) StartDraining() { a.draining.Store(true) }

// readyz answers 200 while the database answers (and the service is not
// shutting down). Redis, when configured,
// is reported but decides nothing: lookups fall back to the database while
// it is down, and taking every replica out of service over it would turn a
// slower path into an outage.
//
// Its 503s are expected answers to a prober, not faults of a request: they
// are not logged as "request failed" (one line per probe; see errNotReady),
// only the database's error, as a warning.
func (a *API) readyz(ctx context.Context, rc *fasthttp.RequestCtx) error {
	if a.draining.Load() {
		return errDraining
	}
	c, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.Store.Ping(c); err != nil {
		a.Log.Warn("readiness: the database is unreachable", "err", err)
		return errNotReady
	}
	body := map[string]string{"status": "ready"}
	if r, ok := a.Store.(interface{ PingRedis(context.Context) error }); ok {
		if err := r.PingRedis(c); err != nil {
			a.Log.Warn("readiness: redis unreachable, serving from the database", "err", err)
			body["status"], body["redis"] = "degraded", "unreachable"
		}
	}
	writeJSON(rc, fasthttp.StatusOK, body)
	return nil
}

// connLogger routes fasthttp's connection-level messages (clients that send
// garbage or hang up) to the structured log at debug level.
type connLogger struct{ log *slog.Logger }

func (l connLogger) Printf(format string, args ...any) {
	l.log.Debug("connection", "detail", fmt.Sprintf(format, args...))
}
