package service_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/service"
	"github.com/zectre/zectre-auth/tlsfiles/tlstest"
)

// startTLS runs the service of cfg on loopback, its background work (the
// certificate watch) included, and returns its https base URL.
func startTLS(t *testing.T, cfg config.Config) (*service.Service, string) {
	t.Helper()
	svc, err := service.New(context.Background(), cfg, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { svc.Run(ctx) })
	wg.Go(func() { _ = svc.Serve(ln) })
	t.Cleanup(func() {
		_ = svc.Server.Shutdown()
		cancel()
		wg.Wait()
		svc.Close()
	})
	return svc, "https://" + ln.Addr().String()
}

// tlsClient trusts ca and keeps one connection, presenting cert when
// given (even to a server whose CA list does not name its issuer).
func tlsClient(ca *tlstest.CA, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: ca.Pool()}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 1}}
}

// get returns the body and the serial of the certificate served on the
// connection that answered.
func get(t *testing.T, c *http.Client, url string) (string, *big.Int) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("%s: %d %s", url, res.StatusCode, body)
	}
	return string(body), res.TLS.PeerCertificates[0].SerialNumber
}

// TestTLSListener: with a pair the main listener speaks TLS, the upstream
// is told X-Forwarded-Proto https, and a Secret rotated by its "..data"
// symlink is served to new connections within 2 s while a connection
// opened before keeps working. SIGHUP's reload of a broken pair keeps the
// pair served and counts the refusal.
func TestTLSListener(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Forwarded-Proto"))
	}))
	defer upstream.Close()
	ca := tlstest.NewCA(t, "ca")
	first := ca.Server(t, "first", time.Now().Add(time.Hour))
	second := ca.Server(t, "second", time.Now().Add(2*time.Hour))
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.Upstream = upstream.URL
	cfg.TLSCertFile, cfg.TLSKeyFile = tlstest.Secret(t, dir, first)
	svc, url := startTLS(t, cfg)
	if !svc.TLS() {
		t.Fatal("TLS is off")
	}

	kept := tlsClient(ca, nil)
	defer kept.CloseIdleConnections()
	proto, serial := get(t, kept, url+"/anything")
	if proto != "https" || serial.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatalf("X-Forwarded-Proto %q, serial %v; want https and the first certificate", proto, serial)
	}
	if res, err := http.Get("http" + strings.TrimPrefix(url, "https") + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Error("cleartext HTTP was answered 200 on the TLS listener")
		}
	}

	time.Sleep(100 * time.Millisecond) // let the watch start
	tlstest.Secret(t, dir, second)
	start := time.Now()
	for {
		c := tlsClient(ca, nil)
		_, s := get(t, c, url+"/healthz")
		c.CloseIdleConnections()
		if s.Cmp(second.Cert.SerialNumber) == 0 {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("the rotated Secret was not served within 2s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("rotated Secret served after %s", time.Since(start).Round(time.Millisecond))
	if _, s := get(t, kept, url+"/healthz"); s.Cmp(first.Cert.SerialNumber) != 0 {
		t.Error("the connection opened before the rotation was not kept")
	}

	// A key of another certificate, then SIGHUP's reload: refused.
	if err := os.WriteFile(filepath.Join(dir, "..data", "tls.key"), first.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := svc.ReloadTLS(); err == nil {
		t.Fatal("a key of another certificate was taken")
	}
	c := tlsClient(ca, nil)
	defer c.CloseIdleConnections()
	if _, s := get(t, c, url+"/healthz"); s.Cmp(second.Cert.SerialNumber) != 0 {
		t.Error("after the refusal a new connection was not served the second certificate")
	}
	rec := httptest.NewRecorder()
	svc.Metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`zectre_auth_tls_certificate_loads_total{result="error"}`,
		`zectre_auth_tls_certificate_loads_total{result="ok"} 2`,
		"zectre_auth_tls_certificate_expiry_timestamp_seconds ",
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestTLSClientCertificates: with tls_client_ca_file a client certificate
// it signed is let in; none, or one of another CA, is refused at the
// handshake.
func TestTLSClientCertificates(t *testing.T) {
	ca, clients, strangers := tlstest.NewCA(t, "ca"), tlstest.NewCA(t, "clients"), tlstest.NewCA(t, "strangers")
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.TLSCertFile, cfg.TLSKeyFile = tlstest.WritePair(t, dir, ca.Server(t, "server", time.Now().Add(time.Hour)))
	cfg.TLSClientCAFile = filepath.Join(dir, "clients.pem")
	if err := os.WriteFile(cfg.TLSClientCAFile, clients.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	_, url := startTLS(t, cfg)
	ingress, intruder := clients.Client(t, "ingress").TLS(t), strangers.Client(t, "intruder").TLS(t)
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
		ok   bool
	}{
		{"client CA's certificate", &ingress, true},
		{"no certificate", nil, false},
		{"another CA's certificate", &intruder, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tlsClient(ca, tc.cert)
			defer c.CloseIdleConnections()
			res, err := c.Get(url + "/api/v1/auth/verify")
			if err == nil {
				res.Body.Close()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// A certificate pair or client CA that does not load stops New, naming the
// setting that points at the bad file.
func TestNewNamesTheTLSSetting(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	dir := t.TempDir()
	certFile, keyFile := tlstest.WritePair(t, dir, ca.Server(t, "good", time.Now().Add(time.Hour)))
	other := ca.Server(t, "other", time.Now().Add(time.Hour))
	expired := ca.Server(t, "expired", time.Now().Add(-time.Minute))
	otherKey, junk := filepath.Join(dir, "other.key"), filepath.Join(dir, "junk")
	expiredCert, expiredKey := tlstest.WritePair(t, t.TempDir(), expired)
	for path, data := range map[string][]byte{otherKey: other.KeyPEM, junk: []byte("junk")} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name                string
		cert, key, clientCA string
		setting             string
	}{
		{"unreadable certificate", missing, keyFile, "", "tls_cert_file"},
		{"certificate not PEM", junk, keyFile, "", "tls_cert_file"},
		{"unreadable key", certFile, missing, "", "tls_key_file"},
		{"key of another certificate", certFile, otherKey, "", "tls_key_file"},
		{"expired", expiredCert, expiredKey, "", "tls_cert_file"},
		{"unreadable client CA", certFile, keyFile, missing, "tls_client_ca_file"},
		{"client CA not PEM", certFile, keyFile, junk, "tls_client_ca_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSClientCAFile = tc.cert, tc.key, tc.clientCA
			svc, err := service.New(context.Background(), cfg, service.Options{})
			var se *service.SettingError
			if !errors.As(err, &se) || se.Key != tc.setting || svc != nil {
				t.Fatalf("New = %v, %v; want a SettingError of %s", svc, err, tc.setting)
			}
		})
	}
}
