// Package extauthz serves Envoy's external authorization over gRPC
// (envoy.service.auth.v3.Authorization/Check) and the standard gRPC health
// service on a listener of its own. It decides nothing itself: every Check
// is the edge's decision (proxy.Handler.Check, the one /api/v1/auth/verify
// makes), and every refusal is answered by the HTTP error mapping
// (handlers.ErrorAnswer), so that Envoy's client sees what a forward-auth
// client sees.
//
// The gRPC server and the Envoy types are the official ones
// (google.golang.org/grpc, github.com/envoyproxy/go-control-plane): Envoy
// and Istio speak exactly that protocol, and nothing lighter speaks it.
package extauthz

import (
	"context"
	"log/slog"
	"net"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/zectre/zectre-auth/proxy"
)

// Options configure New.
type Options struct {
	// Edge is the edge in force (handlers.Front.Edge): each Check runs
	// entirely on the one it started with, as requests of the front do. It
	// returning nil refuses every Check with 404 NOT_FOUND, like the front.
	Edge func() *proxy.Handler
	// Log receives server faults (5xx answers) in full; nil discards them.
	Log *slog.Logger
	// Observe learns of every Check: the HTTP status decided (200 when
	// allowed) and its duration; nil observes nothing.
	Observe func(status int, d time.Duration)
}

// Server is the ext_authz listener's gRPC server.
type Server struct {
	grpc   *grpc.Server
	health *health.Server
}

// New builds the server; Serve runs it.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{grpc: grpc.NewServer(), health: health.NewServer()}
	authv3.RegisterAuthorizationServer(s.grpc, &authorization{o: o})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	s.health.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s
}

// Serve serves ln until Shutdown or Stop.
func (s *Server) Serve(ln net.Listener) error { return s.grpc.Serve(ln) }

// Drain makes the health service answer NOT_SERVING (the overall status
// and Authorization's), so that a client health checking it moves away
// before the listener closes; Checks are still answered.
func (s *Server) Drain() { s.health.Shutdown() }

// Shutdown stops accepting, lets the Checks in flight finish until ctx
// ends, and then closes every connection.
func (s *Server) Shutdown(ctx context.Context) {
	s.health.Shutdown()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
	}
}

// Stop closes the listener and every connection at once.
func (s *Server) Stop() { s.grpc.Stop() }
