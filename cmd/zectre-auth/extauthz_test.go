package main

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestServeExtAuthz: the program serves ext_authz on ext_authz_listen next
// to the main listener, with the edge's decision; on SIGTERM its health
// service fails first while Checks are still answered, and the listener
// closes with the process.
func TestServeExtAuthz(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir, env("ZECTRE_AUTH_EXT_AUTHZ_LISTEN=127.0.0.1:0", "ZECTRE_AUTH_SHUTDOWN_DELAY=2s"))
	var addr string
	until(t, 5*time.Second, "the ext_authz listening line", func() bool {
		for _, line := range strings.Split(s.logs(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "ext_authz listening" {
				addr = rec.Addr
				return true
			}
		}
		return false
	})
	_, key := s.account("envoy@example.com")
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	auth, hc := authv3.NewAuthorizationClient(cc), healthpb.NewHealthClient(cc)
	ask := func(headers ...*corev3.HeaderValue) *authv3.CheckResponse {
		t.Helper()
		res, err := auth.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/app/x", HeaderMap: &corev3.HeaderMap{Headers: headers}},
		}}})
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		return res
	}
	// The default route is optional: anonymous passes, a bad key does not.
	if res := ask(&corev3.HeaderValue{Key: "x-api-key", RawValue: []byte(key)}); res.GetOkResponse() == nil || codes.Code(res.GetStatus().GetCode()) != codes.OK {
		t.Fatalf("with a key: %v", res)
	}
	if res := ask(&corev3.HeaderValue{Key: "x-api-key", RawValue: []byte("zec_notakey")}); res.GetDeniedResponse().GetStatus().GetCode() != 401 ||
		codes.Code(res.GetStatus().GetCode()) != codes.Unauthenticated {
		t.Fatalf("with a bad key: %v", res)
	}
	if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", r, err)
	}

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	until(t, 2*time.Second, "ext_authz health NOT_SERVING after SIGTERM", func() bool {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING
	})
	if res := ask(); res.GetOkResponse() == nil {
		t.Fatalf("a Check during shutdown_delay: %v", res)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, s.logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
	if strings.Contains(s.logs(), "ext_authz server stopped") {
		t.Errorf("the ext_authz server failed:\n%s", s.logs())
	}
}
