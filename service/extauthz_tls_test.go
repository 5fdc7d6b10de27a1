package service_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/zectre/zectre-auth/service"
	"github.com/zectre/zectre-auth/tlsfiles/tlstest"
)

// TestExtAuthzTLS: with the main listener's TLS settings the ext_authz
// listener speaks TLS too (ALPN h2), and requires the client CA's
// certificates when tls_client_ca_file is set: a real gRPC client over TLS
// gets its decision with one, and no answer without.
func TestExtAuthzTLS(t *testing.T) {
	ca, clients := tlstest.NewCA(t, "ca"), tlstest.NewCA(t, "clients")
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.TLSCertFile, cfg.TLSKeyFile = tlstest.WritePair(t, dir, ca.Server(t, "server", time.Now().Add(time.Hour)))
	cfg.TLSClientCAFile = filepath.Join(dir, "clients.pem")
	if err := os.WriteFile(cfg.TLSClientCAFile, clients.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.ExtAuthzListen = "127.0.0.1:0"
	svc, err := service.New(context.Background(), cfg, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go svc.ServeExtAuthz(ln) //nolint:errcheck // ends with Close
	envoy := clients.Client(t, "envoy").TLS(t)
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
		ok   bool
	}{
		{"with the client CA's certificate", &envoy, true},
		{"without a certificate", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
			if tc.cert != nil {
				conf.Certificates = []tls.Certificate{*tc.cert}
			}
			cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(conf)))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := authv3.NewAuthorizationClient(cc).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
				Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/x"}},
			}})
			if tc.ok && (err != nil || res.GetOkResponse() == nil) {
				t.Fatalf("Check: %v, %v; want an OK decision (anonymous, default optional)", res, err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("Check answered %v without a client certificate", res)
			}
		})
	}
}
