// Package service builds zectre-auth's service graph in one place: the
// store behind its identity cache, the resolver chain in its documented
// order, the Authentication API, the edge, the front and the main
// listener's server (and the ext_authz listener's, when configured), with
// the metrics observing each. cmd/zectre-auth runs
// what New builds, and the test harnesses run the same.
//
// The parts a reload may replace while the process runs (the edge: its
// route table, trusted peers and upstream pools) are reached through the
// front (handlers.Front.SetEdge), so that each request runs on one of them
// whole. The listener's certificate pair is reloaded from its files
// (tlsfiles.Pair) without touching open connections.
package service

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/audit"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/extauthz"
	"github.com/zectre/zectre-auth/handlers"
	"github.com/zectre/zectre-auth/identity"
	"github.com/zectre/zectre-auth/metrics"
	"github.com/zectre/zectre-auth/proxy"
	"github.com/zectre/zectre-auth/secretscan"
	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/tlsfiles"
)

// cliPurgeInterval is how often expired CLI logins are deleted.
const cliPurgeInterval = 10 * time.Minute

// Options are what New needs besides the configuration. The zero value is
// the service as it runs in production, logging to io.Discard.
type Options struct {
	// Log is the service's log; nil discards it.
	Log *slog.Logger
	// AuditOut receives the audit lines; nil discards them.
	AuditOut io.Writer
	// Metrics observe every part; nil makes a new set (version "").
	Metrics *metrics.Metrics
	// Open opens the database; nil is store.Open (which creates and
	// migrates).
	Open func(ctx context.Context, url string) (store.Store, error)
	// Passwords are the hashing parameters; the zero value is
	// authn.DefaultPasswordParams(). Tests make hashing cheap with them.
	Passwords authn.PasswordParams
	// Now is the clock of the API and of key expiry; nil is time.Now.
	Now func() time.Time
	// Limits replace the configuration's login and request limits
	// (limitPolicy(cfg.Limits)) when set: tests give them windows of their
	// own.
	Limits *authn.LimitPolicy
	// Cache tunes the identity cache (its Redis URL, prefix, log and
	// observer come from the configuration and the fields above).
	Cache cache.Options
}

// Service is the built graph. Serve runs the main listener, Run the
// background work; Close releases everything New opened.
type Service struct {
	Config  config.Config
	Log     *slog.Logger
	Metrics *metrics.Metrics
	Store   *cache.Store
	Audit   *audit.Writer
	API     *handlers.API
	Front   *handlers.Front
	Server  *fasthttp.Server
	// ExtAuthz is the ext_authz listener's gRPC server (ServeExtAuthz);
	// nil when ext_authz_listen is empty.
	ExtAuthz *extauthz.Server
	// Tunnels are the WebSocket tunnels of every edge the service builds.
	Tunnels *proxy.Tunnels
	// Identity signs the X-Zectre-Identity assertions of every edge the
	// service builds; nil when identity_assertion is off.
	Identity *identity.Signer

	usage     *cache.Usage
	tls       *tlsfiles.Pair // nil: cleartext
	tlsConfig *tls.Config
	closers   []func() // in the order of opening; Close runs them backwards
}

// SettingError is a failure of New caused by the value of one setting,
// named by its TOML key (config.Config.Setting gives the name as the user
// wrote it).
type SettingError struct {
	Key string
	Err error
}

func (e *SettingError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

// New builds the service of cfg. ctx bounds the background work the parts
// start while they are built (the catalog's JWKS refreshes), and should end
// only after the server has drained. On error nothing is left open.
func New(ctx context.Context, cfg config.Config, o Options) (_ *Service, err error) {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.AuditOut == nil {
		o.AuditOut = io.Discard
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New("")
	}
	if o.Open == nil {
		o.Open = store.Open
	}
	if o.Passwords == (authn.PasswordParams{}) {
		o.Passwords = authn.DefaultPasswordParams()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{Config: cfg, Log: o.Log, Metrics: o.Metrics}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	m, log := o.Metrics, o.Log
	// The pair first: a listener that cannot serve is found before the
	// database is opened.
	if err := s.openTLS(cfg); err != nil {
		return nil, err
	}

	// The tunnels hear of every change the cache learns of, so that a
	// revoked credential's open tunnels close on every replica.
	s.Tunnels = proxy.NewTunnels(cfg.MaxWebSocketConns, cfg.WebSocketIdleTimeout.Std())
	m.ObserveTunnels(s.Tunnels)
	copt := o.Cache
	copt.Log, copt.Observer, copt.Changes = log, m.Cache(), s.Tunnels
	st, closeStore, err := OpenStore(ctx, cfg, o.Open, copt)
	if err != nil {
		return nil, err
	}
	s.Store = st
	s.closers = append(s.closers, closeStore)

	secretKey := "jwt_secret" // the secret comes from jwt_secret, or else from a file in data_dir
	if cfg.JWTSecret == "" {
		secretKey = "data_dir"
	}
	secret, err := jwtSecret(cfg)
	if err != nil {
		return nil, &SettingError{secretKey, err}
	}
	var previous [][]byte
	for _, p := range cfg.JWTPreviousSecrets {
		previous = append(previous, []byte(p))
	}
	tokens, err := authn.NewTokens(secret, authn.DefaultTokenTTL, previous...)
	if err != nil {
		return nil, &SettingError{secretKey, err}
	}
	if s.Identity, err = openIdentity(cfg); err != nil {
		return nil, err
	}
	passwords, err := authn.NewPasswords(o.Passwords, cfg.Limits.MaxConcurrentHashes)
	if err != nil {
		return nil, err
	}
	s.usage = cache.NewUsage(st, log)
	resolver, err := s.resolver(ctx, cfg, st, tokens, o.Now)
	if err != nil {
		return nil, err
	}

	policy := limitPolicy(cfg.Limits)
	if o.Limits != nil {
		policy = *o.Limits
	}
	s.Audit = audit.New(o.AuditOut, handlers.ErrorCode)
	m.ObserveAudit(s.Audit)
	s.closers = append(s.closers, func() { s.Audit.Close() })
	s.API = &handlers.API{
		Store:       st,
		Passwords:   passwords,
		Tokens:      tokens,
		Limits:      &authn.Limits{Counter: st.Counter(), Policy: policy},
		Resolver:    resolver,
		AuthURLBase: cfg.AuthURLBase(),
		Now:         o.Now,
		Log:         log,
		Audit:       s.Audit,
		Trusted:     cfg.TrustedPrefixes(),
		// The built-in login page stands in for a dashboard.
		ServeCLIPage: cfg.DashboardURL == "",
		MaxBodyBytes: cfg.MaxBodyBytes,
	}
	if s.Identity != nil {
		s.API.IdentityJWKS = s.Identity.JWKS()
	}
	if cfg.SecretScanningKeysURL != "" {
		s.API.SecretScanning = secretscan.NewVerifier(cfg.SecretScanningKeysURL, nil)
	}
	edge, err := s.NewEdge(cfg)
	if err != nil {
		return nil, err
	}
	s.Front = handlers.NewFront(s.API, edge, m.Request)
	s.closers = append(s.closers, func() {
		if e := s.Front.Edge(); e != nil {
			e.Close()
		}
	})
	s.closers = append(s.closers, func() {
		// Tunnels still open when the service closes are closed at once.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s.Tunnels.Shutdown(ctx)
	})
	s.Server = handlers.NewServer(s.Front.Serve, log, handlers.ServerLimits{
		MaxHeaderBytes: cfg.MaxHeaderBytes, ReadTimeout: cfg.ReadTimeout.Std(), IdleTimeout: cfg.IdleTimeout.Std(),
	})
	if cfg.ExtAuthzListen != "" {
		// On the edge in force, like the front: a reload reaches it too.
		s.ExtAuthz = extauthz.New(extauthz.Options{Edge: s.Front.Edge, Log: log,
			Observe: func(status int, d time.Duration) { m.Answered(handlers.ClassExtAuthz, status, d) }})
		s.closers = append(s.closers, s.ExtAuthz.Stop)
	}
	return s, nil
}

// resolver is the chain of authenticators, in this order: tokens seen
// before (one hash, no signature check), then the catalog's tokens when a
// JWKS URL is configured (it claims only asymmetric tokens), then the
// service's own HS256 tokens, then API keys.
func (s *Service) resolver(ctx context.Context, cfg config.Config, st *cache.Store, tokens *authn.Tokens, now func() time.Time) (*authn.Resolver, error) {
	verified := authn.NewTokenCache(authn.DefaultTokenCacheSize)
	chain := []authn.Authenticator{verified.Authenticator(st)}
	if cfg.Auth.CatalogJWKSURL != "" {
		catalog, err := authn.NewCatalogAuthenticator(ctx, authn.CatalogOptions{
			JWKSURL: cfg.Auth.CatalogJWKSURL, Issuer: cfg.Auth.JWTExpectedIss, Audience: cfg.Auth.JWTExpectedAud,
			Users: st, Cache: verified, Logger: s.Log, OnRefresh: s.Metrics.JWKSRefreshed,
		})
		if err != nil {
			return nil, &SettingError{"auth.catalog_jwks_url", err}
		}
		s.closers = append(s.closers, func() { _ = catalog.Close() })
		chain = append(chain, catalog)
	}
	chain = slices.Concat(chain, []authn.Authenticator{
		authn.TokenAuthenticator{Tokens: tokens, Users: st, Cache: verified},
		authn.KeyAuthenticator{Keys: st, Usage: s.usage, Now: now},
	})
	return authn.NewResolver(chain...), nil
}

// NewEdge builds the edge of cfg over the service's resolver and audit
// writer: what a reload replaces (Front.SetEdge), with its own upstream
// pools. proxy.New refuses only what Validate cannot check (an upstream's
// base path), named "routes".
func (s *Service) NewEdge(cfg config.Config) (*proxy.Handler, error) {
	var asserter proxy.Asserter // a nil *identity.Signer must stay a nil interface
	if s.Identity != nil {
		asserter = s.Identity
	}
	edge, err := proxy.New(proxy.Options{
		Routes: cfg.Routes, Upstream: cfg.Upstream, DefaultAuth: cfg.DefaultAuth,
		Trusted: cfg.TrustedPrefixes(), Resolver: s.API.Resolver, Audit: s.Audit,
		Timeout: cfg.UpstreamTimeout.Std(), Observer: s.Metrics.Proxy(), MaxBodyBytes: cfg.MaxProxyBodyBytes,
		Tunnels: s.Tunnels, Identity: asserter,
	})
	if err != nil {
		return nil, &SettingError{"routes", err}
	}
	return edge, nil
}

// Run does the background work until ctx ends: the cache's change watch,
// the key-use flushes (a last one as it ends), the purge of expired CLI
// logins and, with TLS, the watch of the certificate's files. End ctx only after the server has drained, so that the last
// requests' key use is written too.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.Store.Run(ctx) })
	wg.Go(func() { s.usage.Run(ctx, cache.DefaultUsageInterval) })
	wg.Go(func() { s.API.PurgeCLISessions(ctx, cliPurgeInterval) })
	if s.tls != nil {
		wg.Go(func() { s.tls.Watch(ctx) })
	}
	wg.Wait()
}

// Serve serves the main listener on ln until the server shuts down, over
// TLS when configured. The handshake runs on the connection's first read,
// under the server's read timeout; rc.IsTLS() is then true, which makes
// X-Forwarded-Proto https.
func (s *Service) Serve(ln net.Listener) error {
	if s.tlsConfig != nil {
		ln = tls.NewListener(ln, s.tlsConfig)
	}
	return s.Server.Serve(ln)
}

// ServeExtAuthz serves Envoy's ext_authz over gRPC on ln until the gRPC
// server stops (ExtAuthz.Shutdown, or Close), over TLS (and mTLS) when the
// main listener has it. Without ext_authz_listen there is nothing to
// serve: it closes ln and returns at once.
func (s *Service) ServeExtAuthz(ln net.Listener) error {
	if s.ExtAuthz == nil {
		return ln.Close()
	}
	if s.tlsConfig != nil {
		// The main listener's settings, certificate reloads and client
		// certificates included; gRPC speaks HTTP/2, so ALPN offers h2.
		conf := s.tlsConfig.Clone()
		conf.NextProtos = []string{"h2"}
		ln = tls.NewListener(ln, conf)
	}
	return s.ExtAuthz.Serve(ln)
}

// Close releases what New opened, in reverse: the ext_authz server, the edge's idle upstream
// connections, the audit writer (flushed), the catalog's refreshes, the
// store. Call it after the server has stopped and Run has returned.
func (s *Service) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// OpenStore opens the database behind the identity cache (Redis-backed when
// configured); every change goes through the cache, so that it reaches the
// running replicas, also when an admin command makes it. close closes both.
// o's Redis URL and prefix are cfg's. A failure is a SettingError of
// database_url or redis_url.
func OpenStore(ctx context.Context, cfg config.Config, open func(ctx context.Context, url string) (store.Store, error), o cache.Options) (st *cache.Store, close func(), err error) {
	db, err := open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, &SettingError{"database_url", err}
	}
	o.RedisURL, o.Prefix = cfg.RedisURL, cfg.RedisPrefix
	st, err = cache.Open(ctx, db, o)
	if err != nil {
		db.Close()
		return nil, nil, &SettingError{"redis_url", err}
	}
	return st, func() { st.Close(); db.Close() }, nil
}

// jwtSecret is the configured secret, or the one kept in the data dir
// (created on first start).
func jwtSecret(cfg config.Config) ([]byte, error) {
	if cfg.JWTSecret != "" {
		return []byte(cfg.JWTSecret), nil
	}
	return authn.LoadOrCreateSecret(cfg.DataDir)
}

// limitPolicy is the login and request limits of the configuration.
func limitPolicy(l config.Limits) authn.LimitPolicy {
	return authn.LimitPolicy{
		FailuresPerAccount: authn.Limit{N: int64(l.LoginFailuresPerAccount), Window: config.FailureWindow},
		FailuresPerAddress: authn.Limit{N: int64(l.LoginFailuresPerAddress), Window: config.FailureWindow},
		PerAddress: map[authn.Action]authn.Limit{
			authn.ActionSignup:   {N: int64(l.SignupsPerAddress), Window: config.RequestWindow},
			authn.ActionInitiate: {N: int64(l.CLIInitiatesPerAddress), Window: config.RequestWindow},
			authn.ActionPoll:     {N: int64(l.CLIPollsPerAddress), Window: config.RequestWindow},
		},
	}
}

// IsSetting reports whether err names a setting, and which.
func IsSetting(err error) (key string, ok bool) {
	var se *SettingError
	if errors.As(err, &se) {
		return se.Key, true
	}
	return "", false
}
