package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/zectre/zectre-auth/config"
)

// Timeouts of the admin listener. A CPU profile or trace streams for as
// long as it was asked to run (30 s by default), so with the profiler on
// the write timeout leaves room for profiles of up to about a minute and a
// half; pprof refuses longer ones rather than being cut off.
const (
	adminReadTimeout       = 10 * time.Second
	adminWriteTimeout      = 30 * time.Second
	adminPprofWriteTimeout = 100 * time.Second
	adminIdleTimeout       = 2 * time.Minute
)

// adminServer is the admin listener: /metrics, and the Go profiler under
// /debug/pprof/ when admin_pprof is on. It runs net/http rather than
// fasthttp: it serves a scraper every few seconds, not the request path,
// and promhttp and net/http/pprof are net/http handlers. It never serves
// anything of the main listener, and the main listener never serves this.
type adminServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// startAdmin listens on cfg.AdminListen and serves metrics (an
// http.Handler, *metrics.Metrics) in the background until Close. A listen
// error is returned at once, so that a taken port stops the start.
func startAdmin(cfg config.Config, metrics http.Handler, log *slog.Logger) (*adminServer, error) {
	ln, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		return nil, err
	}
	write := adminWriteTimeout
	if cfg.AdminPprof {
		write = adminPprofWriteTimeout
		if !loopback(ln.Addr()) {
			log.Warn("admin_pprof serves the profiler on a non-loopback address; make sure only operators can reach it",
				"addr", ln.Addr().String())
		}
	}
	a := &adminServer{
		srv: &http.Server{
			Handler:           adminMux(metrics, cfg.AdminPprof),
			ReadHeaderTimeout: adminReadTimeout,
			ReadTimeout:       adminReadTimeout,
			WriteTimeout:      write,
			IdleTimeout:       adminIdleTimeout,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener stopped; metrics are no longer served", "err", err)
		}
	}()
	log.Info("admin listening", "addr", ln.Addr().String(), "pprof", cfg.AdminPprof)
	return a, nil
}

// Addr is the address the admin listener is bound to.
func (a *adminServer) Addr() string { return a.ln.Addr().String() }

// Close stops the admin listener, letting a scrape in progress finish until
// ctx ends. Close it after the main listener has drained, so that the last
// scrapes still see the shutdown.
func (a *adminServer) Close(ctx context.Context) error {
	err := a.srv.Shutdown(ctx)
	if err != nil {
		a.srv.Close() // ctx ended: cut what is left (a long profile)
	}
	<-a.done
	return err
}

// adminMux routes /metrics and, only when pprof is on, the profiler. Any
// other path is 404, the profiler's paths included when it is off.
func adminMux(metrics http.Handler, pprofOn bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	if pprofOn {
		// The package's init also registers these on http.DefaultServeMux,
		// which nothing in this binary serves.
		// pprof.Index also serves the named profiles (heap, goroutine,
		// allocs, block, mutex, threadcreate) below /debug/pprof/.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// loopback reports whether addr is reachable from this host only.
func loopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
