package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/handlers"
)

func serve(args []string, stderr io.Writer) int {
	cfg, _, ok := loadConfig("serve", args, stderr)
	if !ok {
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	st, ok := openStore(ctx, cfg, stderr)
	if !ok {
		return 1
	}
	defer st.Close()
	secret, err := jwtSecret(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth: ZECTRE_AUTH_JWT_SECRET:", err)
		return 1
	}
	tokens, err := authn.NewTokens(secret, authn.DefaultTokenTTL)
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth: ZECTRE_AUTH_JWT_SECRET:", err)
		return 1
	}
	passwords, err := authn.NewPasswords(authn.DefaultPasswordParams, cfg.Limits.MaxConcurrentHashes)
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth:", err)
		return 1
	}
	usage := cache.NewUsage(st, log)
	api := &handlers.API{
		Store:     st,
		Passwords: passwords,
		Tokens:    tokens,
		Limits:    &authn.Limits{Counter: cache.NewLocalCounter(cache.DefaultLocalCounterSize), Policy: limitPolicy(cfg.Limits)},
		Resolver: authn.NewResolver(
			authn.TokenAuthenticator{Tokens: tokens, Users: st},
			authn.KeyAuthenticator{Keys: st, Usage: usage, Now: time.Now},
		),
		AuthURLBase: cfg.AuthURLBase(),
		Log:         log,
	}
	srv := handlers.NewServer(handlers.NewRouter(api).Handler, log)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth: ZECTRE_AUTH_LISTEN:", err)
		return 1
	}
	var background sync.WaitGroup
	background.Go(func() { usage.Run(ctx, cache.DefaultUsageInterval) })
	background.Go(func() { api.PurgeCLISessions(ctx, 10*time.Minute) })

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "config", cfg.String(), "version", versionString())
	warnNotYetServed(log, cfg)

	select {
	case err := <-served:
		log.Error("server stopped", "err", err)
		stop()
		background.Wait()
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down")
	drain, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.ShutdownWithContext(drain); err != nil {
		log.Warn("shutdown did not finish draining", "err", err)
	}
	background.Wait() // flushes pending key use
	log.Info("stopped")
	return 0
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

// warnNotYetServed names settings that are accepted and validated but not
// acted on by this version, so that nobody believes they are in force.
func warnNotYetServed(log *slog.Logger, cfg config.Config) {
	unused := map[string]bool{
		"ZECTRE_AUTH_REDIS_URL (counters and caches are in-process)": cfg.RedisURL != "",
		"ZECTRE_AUTH_CATALOG_JWKS_URL (catalog tokens are refused)":  cfg.Auth.CatalogJWKSURL != "",
		"ZECTRE_AUTH_UPSTREAM (other paths answer 404)":              cfg.Upstream != "",
		"routes (other paths answer 404)":                            len(cfg.Routes) > 0,
	}
	for setting, set := range unused {
		if set {
			log.Warn("setting not in effect in this version", "setting", setting)
		}
	}
}
