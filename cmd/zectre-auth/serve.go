package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/audit"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/handlers"
	"github.com/zectre/zectre-auth/metrics"
	"github.com/zectre/zectre-auth/proxy"
	"github.com/zectre/zectre-auth/store"
)

// serve runs the service. A setting whose value fails while starting (the
// database, Redis, the data dir, the catalog's JWKS URL, the upstreams, a
// listener) ends it with exitConfig and a line naming that setting as the
// user wrote it, like the problems Validate finds.
func serve(args []string, stdout, stderr io.Writer) int {
	cfg, _, err := loadConfig("serve", args, stdout, stderr)
	if err != nil {
		return status(err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	tuneGC()
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	// ctx ends the background work (key-use flushes, the cache's watch,
	// JWKS refreshes) only after the server has drained, so that the last
	// requests' key use is flushed too.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	m := metrics.New(versionString())
	st, closeStore, code := openStore(ctx, cfg, store.Open, m.Cache(), log, stderr)
	if code != 0 {
		return code
	}
	defer closeStore()
	// The secret comes from jwt_secret, or else from a file in data_dir.
	secretKey := "jwt_secret"
	if cfg.JWTSecret == "" {
		secretKey = "data_dir"
	}
	secret, err := jwtSecret(cfg)
	if err != nil {
		return configProblem(stderr, cfg, secretKey, err)
	}
	tokens, err := authn.NewTokens(secret, authn.DefaultTokenTTL)
	if err != nil {
		return configProblem(stderr, cfg, secretKey, err)
	}
	passwords, err := authn.NewPasswords(authn.DefaultPasswordParams, cfg.Limits.MaxConcurrentHashes)
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth:", err)
		return 1
	}
	usage := cache.NewUsage(st, log)
	verified := authn.NewTokenCache(authn.DefaultTokenCacheSize)
	// Tokens seen before resolve first, with one hash; the others decode a
	// token only when it is new.
	chain := []authn.Authenticator{
		verified.Authenticator(st),
		authn.TokenAuthenticator{Tokens: tokens, Users: st, Cache: verified},
		authn.KeyAuthenticator{Keys: st, Usage: usage, Now: time.Now},
	}
	if cfg.Auth.CatalogJWKSURL != "" {
		catalog, err := authn.NewCatalogAuthenticator(ctx, authn.CatalogOptions{
			JWKSURL: cfg.Auth.CatalogJWKSURL, Issuer: cfg.Auth.JWTExpectedIss, Audience: cfg.Auth.JWTExpectedAud,
			Users: st, Cache: verified, Logger: log, OnRefresh: m.JWKSRefreshed,
		})
		if err != nil {
			return configProblem(stderr, cfg, "auth.catalog_jwks_url", err)
		}
		defer catalog.Close()
		// The catalog claims only asymmetric tokens, so it goes before the
		// HS256 authenticator (after the cache).
		chain = slices.Insert(chain, 1, authn.Authenticator(catalog))
	}
	auditLog := audit.New(stderr, handlers.ErrorCode)
	m.ObserveAudit(auditLog)
	api := &handlers.API{
		Store:       st,
		Passwords:   passwords,
		Tokens:      tokens,
		Limits:      &authn.Limits{Counter: st.Counter(), Policy: limitPolicy(cfg.Limits)},
		Resolver:    authn.NewResolver(chain...),
		AuthURLBase: cfg.AuthURLBase(),
		Log:         log,
		Audit:       auditLog,
		Trusted:     cfg.TrustedPrefixes(),
		// The built-in login page stands in for a dashboard.
		ServeCLIPage: cfg.DashboardURL == "",
		MaxBodyBytes: cfg.MaxBodyBytes,
	}
	edge, err := proxy.New(proxy.Options{
		Routes: cfg.Routes, Upstream: cfg.Upstream, DefaultAuth: cfg.DefaultAuth,
		Trusted: cfg.TrustedPrefixes(), Resolver: api.Resolver, Audit: auditLog,
		Timeout: cfg.UpstreamTimeout.Std(), Observer: m.Proxy(), MaxBodyBytes: cfg.MaxProxyBodyBytes,
	})
	if err != nil {
		// Validate checks what proxy.New does, so this is a check that
		// only the proxy can make (an upstream's base path).
		return configProblem(stderr, cfg, "routes", err)
	}
	handler := m.Instrument(handlers.NewHandler(api, edge), metrics.Classifier(api.ServeCLIPage))
	srv := handlers.NewServer(handler, log, handlers.ServerLimits{
		MaxHeaderBytes: cfg.MaxHeaderBytes, ReadTimeout: cfg.ReadTimeout.Std(), IdleTimeout: cfg.IdleTimeout.Std(),
	})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return configProblem(stderr, cfg, "listen", err)
	}
	admin, err := startAdmin(cfg, m, log)
	if err != nil {
		ln.Close()
		return configProblem(stderr, cfg, "admin_listen", err)
	}
	var background sync.WaitGroup
	background.Go(func() { st.Run(ctx) })
	background.Go(func() { usage.Run(ctx, cache.DefaultUsageInterval) })
	background.Go(func() { api.PurgeCLISessions(ctx, 10*time.Minute) })

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "config", cfg.String(), "version", versionString())

	code = 0 // the status of the running service from here on
	select {
	case err := <-served:
		log.Error("server stopped", "err", err)
		code = 1
	case sig := <-signals:
		shutdown(srv, api, cfg, sig, signals, log)
	}
	// The admin listener outlives the drain, so that the last scrapes see it.
	closing, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	admin.Close(closing)
	cancel()
	stop()
	edge.Close()
	background.Wait() // flushes pending key use
	auditLog.Close()
	log.Info("stopped")
	return code
}

// shutdown stops serving in order: readiness fails first, then (after
// SIGTERM) the service keeps serving for shutdown_delay while load balancers
// take it out of rotation, then the listener closes and in-flight requests
// get shutdown_timeout to finish. A second signal ends the delay at once.
func shutdown(srv *fasthttp.Server, api *handlers.API, cfg config.Config, sig os.Signal, signals <-chan os.Signal, log *slog.Logger) {
	api.StartDraining()
	delay := cfg.ShutdownDelay.Std()
	if sig != syscall.SIGTERM {
		delay = 0
	}
	log.Info("shutting down", "signal", sig.String(), "delay", delay.String())
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-signals:
		}
	}
	drain, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.Std())
	defer cancel()
	if err := srv.ShutdownWithContext(drain); err != nil {
		log.Warn("shutdown did not finish draining", "err", err)
	}
}

// jwtSecret is the configured secret, or the one kept in the data dir
// (created on first start).
func jwtSecret(cfg config.Config) ([]byte, error) {
	if cfg.JWTSecret != "" {
		return []byte(cfg.JWTSecret), nil
	}
	return authn.LoadOrCreateSecret(cfg.DataDir)
}

func limitPolicy(l config.Limits) authn.LimitPolicy {
	return authn.LimitPolicy{
		FailuresPerAccount: authn.Limit{N: int64(l.LoginFailuresPerAccount), Window: time.Hour},
		FailuresPerAddress: authn.Limit{N: int64(l.LoginFailuresPerAddress), Window: time.Hour},
		PerAddress: map[authn.Action]authn.Limit{
			authn.ActionSignup:   {N: int64(l.SignupsPerAddress), Window: time.Minute},
			authn.ActionInitiate: {N: int64(l.CLIInitiatesPerAddress), Window: time.Minute},
			authn.ActionPoll:     {N: int64(l.CLIPollsPerAddress), Window: time.Minute},
		},
	}
}
