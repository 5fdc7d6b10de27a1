package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/metrics"
	"github.com/zectre/zectre-auth/service"
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
	// SIGHUP is caught from the start, TLS or not, so that the signal
	// conventionally meaning "reload" never stops a running service.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// ctx ends the background work (key-use flushes, the cache's watch,
	// JWKS refreshes) only after the server has drained, so that the last
	// requests' key use is flushed too.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	m := metrics.New(versionString())
	svc, err := service.New(ctx, cfg, service.Options{Log: log, AuditOut: stderr, Metrics: m})
	if err != nil {
		return settingProblem(stderr, cfg, err)
	}
	defer svc.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return configProblem(stderr, cfg, "listen", err)
	}
	var extLn net.Listener
	if cfg.ExtAuthzListen != "" {
		if extLn, err = net.Listen("tcp", cfg.ExtAuthzListen); err != nil {
			ln.Close()
			return configProblem(stderr, cfg, "ext_authz_listen", err)
		}
	}
	admin, err := startAdmin(cfg, m, log)
	if err != nil {
		ln.Close()
		if extLn != nil {
			extLn.Close()
		}
		return configProblem(stderr, cfg, "admin_listen", err)
	}
	var background sync.WaitGroup
	background.Go(func() { svc.Run(ctx) })
	background.Go(func() { reloadOnHangup(ctx, hup, svc, log) })

	served := make(chan error, 1)
	go func() { served <- svc.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "tls", svc.TLS(), "config", cfg.String(), "version", versionString())
	if extLn != nil {
		go func() {
			if err := svc.ServeExtAuthz(extLn); err != nil {
				log.Error("ext_authz server stopped", "err", err)
			}
		}()
		log.Info("ext_authz listening", "addr", extLn.Addr().String())
	}

	code := 0 // the status of the running service from here on
	select {
	case err := <-served:
		log.Error("server stopped", "err", err)
		code = 1
	case sig := <-signals:
		shutdown(svc, cfg, sig, signals, log)
	}
	// The admin listener outlives the drain, so that the last scrapes see it.
	closing, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	admin.Close(closing)
	cancel()
	stop()
	background.Wait() // flushes pending key use
	svc.Close()       // then the audit writer, the edge's pools, the store
	log.Info("stopped")
	return code
}

// reloadOnHangup reloads the listener's certificate pair on each SIGHUP
// until ctx ends.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, svc *service.Service, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if !svc.TLS() {
				log.Info("SIGHUP: nothing to reload (no tls_cert_file)")
				continue
			}
			log.Info("SIGHUP: reloading the tls certificate")
			_ = svc.ReloadTLS() // a refusal is logged and counted by the reload
		}
	}
}

// shutdown stops serving in order: readiness fails first, then (after
// SIGTERM) the service keeps serving for shutdown_delay while load balancers
// take it out of rotation, then the listener closes and in-flight requests
// get shutdown_timeout to finish, WebSocket tunnels too. A second signal ends the delay at once.
func shutdown(svc *service.Service, cfg config.Config, sig os.Signal, signals <-chan os.Signal, log *slog.Logger) {
	svc.API.StartDraining()
	if svc.ExtAuthz != nil {
		svc.ExtAuthz.Drain() // its health service fails like /readyz
	}
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
	var ext sync.WaitGroup
	if svc.ExtAuthz != nil {
		ext.Go(func() { svc.ExtAuthz.Shutdown(drain) })
	}
	if err := svc.Server.ShutdownWithContext(drain); err != nil {
		log.Warn("shutdown did not finish draining", "err", err)
	}
	ext.Wait()
	// WebSocket tunnels are no requests in flight: they may run to the end
	// of shutdown_timeout too, and are then closed (close code 1001).
	svc.Tunnels.Shutdown(drain)
}
