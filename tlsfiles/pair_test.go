package tlsfiles

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/tlsfiles/tlstest"
)

// reloadDeadline is what the service promises: a new pair is served within
// 2 s of its files changing.
const reloadDeadline = 2 * time.Second

// observed records OnReload's calls.
type observed struct {
	mu       sync.Mutex
	ok, errs int
	notAfter time.Time
}

func (o *observed) onReload(notAfter time.Time, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.errs++
		return
	}
	o.ok++
	o.notAfter = notAfter
}

func (o *observed) counts() (ok, errs int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ok, o.errs
}

// serveTLS serves HTTP over TLS with cfg on loopback; every answer is "ok".
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String()
}

// client trusts ca, keeps its connections (one per host), and presents
// its first cert whenever asked, even one the server's CA list does not
// name (a client that tries its luck).
func client(ca *tlstest.CA, certs ...tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: ca.Pool()}
	if len(certs) > 0 {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: cfg, MaxIdleConnsPerHost: 1,
	}}
}

// served is the serial of the certificate the server presented on the
// connection that answered.
func served(t *testing.T, c *http.Client, url string) *big.Int {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		t.Fatal(err)
	}
	return res.TLS.PeerCertificates[0].SerialNumber
}

// fresh is the serial a new connection is served.
func fresh(t *testing.T, ca *tlstest.CA, url string) *big.Int {
	t.Helper()
	c := client(ca)
	defer c.CloseIdleConnections()
	return served(t, c, url)
}

// waitServed waits until a new connection is served want.
func waitServed(t *testing.T, ca *tlstest.CA, url string, want *x509.Certificate, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if fresh(t, ca, url).Cmp(want.SerialNumber) == 0 {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("the new certificate was not served within %s", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRotation: a pair replaced by rename (each file) and a Kubernetes
// Secret whose "..data" symlink is swapped are both served to new
// connections within reloadDeadline, while a connection opened before keeps
// working on the pair it was made with.
func TestRotation(t *testing.T) {
	layouts := []struct {
		name  string
		write func(t testing.TB, dir string, l tlstest.Leaf) (string, string)
	}{
		{"rename", tlstest.WritePair},
		{"secret symlink swap", tlstest.Secret},
	}
	for _, lay := range layouts {
		t.Run(lay.name, func(t *testing.T) {
			ca := tlstest.NewCA(t, "ca")
			first := ca.Server(t, "first", time.Now().Add(time.Hour))
			second := ca.Server(t, "second", time.Now().Add(2*time.Hour))
			dir := t.TempDir()
			certFile, keyFile := lay.write(t, dir, first)
			var obs observed
			p, err := Open(certFile, keyFile, Options{OnReload: obs.onReload})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go p.Watch(ctx)
			url := serveTLS(t, p.ServerConfig(nil))
			kept := client(ca)
			defer kept.CloseIdleConnections()
			if got := served(t, kept, url); got.Cmp(first.Cert.SerialNumber) != 0 {
				t.Fatalf("served %v, want the first certificate", got)
			}
			time.Sleep(100 * time.Millisecond) // let the watch start

			lay.write(t, dir, second)
			took := waitServed(t, ca, url, second.Cert, reloadDeadline)
			t.Logf("new certificate served %s after the change", took.Round(time.Millisecond))
			if got := served(t, kept, url); got.Cmp(first.Cert.SerialNumber) != 0 {
				t.Errorf("the connection opened before is on %v now, want it kept on the first certificate", got)
			}
			if ok, errs := obs.counts(); ok < 2 || errs != 0 {
				t.Errorf("observed %d loads, %d failures; want at least 2 and none", ok, errs)
			}
			if !obs.notAfter.Equal(second.Cert.NotAfter) {
				t.Errorf("observed expiry %v, want %v", obs.notAfter, second.Cert.NotAfter)
			}
		})
	}
}

// TestRotationAmidChurn: other files of the directory changing all the
// time (a data directory) neither put the reload off nor cause reloads.
func TestRotationAmidChurn(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	first := ca.Server(t, "first", time.Now().Add(time.Hour))
	second := ca.Server(t, "second", time.Now().Add(time.Hour))
	dir := t.TempDir()
	certFile, keyFile := tlstest.WritePair(t, dir, first)
	p, err := Open(certFile, keyFile, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Watch(ctx)
	url := serveTLS(t, p.ServerConfig(nil))
	churning := make(chan struct{})
	go func() {
		defer close(churning)
		for i := 0; ctx.Err() == nil; i++ {
			os.WriteFile(filepath.Join(dir, "app.db"), []byte{byte(i)}, 0o600)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	tlstest.WritePair(t, dir, second)
	took := waitServed(t, ca, url, second.Cert, reloadDeadline)
	t.Logf("new certificate served %s after the change, amid churn", took.Round(time.Millisecond))
	cancel()
	<-churning
}

// TestBrokenPairKeepsTheOld: a key that does not match, a truncated
// certificate or an expired pair is refused, counted, and the pair served
// before stays, for new connections and open ones; a good pair after it is
// taken.
func TestBrokenPairKeepsTheOld(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	first := ca.Server(t, "first", time.Now().Add(time.Hour))
	other := ca.Server(t, "other", time.Now().Add(time.Hour))
	expired := ca.Server(t, "expired", time.Now().Add(-time.Minute))
	third := ca.Server(t, "third", time.Now().Add(3*time.Hour))
	dir := t.TempDir()
	certFile, keyFile := tlstest.WritePair(t, dir, first)
	var obs observed
	p, err := Open(certFile, keyFile, Options{OnReload: obs.onReload})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Watch(ctx)
	url := serveTLS(t, p.ServerConfig(nil))
	kept := client(ca)
	defer kept.CloseIdleConnections()
	served(t, kept, url)
	time.Sleep(100 * time.Millisecond)

	broken := []struct {
		name string
		pair tlstest.Leaf
	}{
		{"key of another certificate", tlstest.Leaf{CertPEM: first.CertPEM, KeyPEM: other.KeyPEM}},
		{"truncated certificate", tlstest.Leaf{CertPEM: first.CertPEM[:len(first.CertPEM)/2], KeyPEM: first.KeyPEM}},
		{"expired", expired},
	}
	for i, b := range broken {
		tlstest.WritePair(t, dir, b.pair)
		deadline := time.Now().Add(reloadDeadline)
		for {
			if _, errs := obs.counts(); errs > i {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no refusal observed within %s", b.name, reloadDeadline)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := p.Reload(); err == nil {
			t.Errorf("%s: Reload took it", b.name)
		}
		if got := fresh(t, ca, url); got.Cmp(first.Cert.SerialNumber) != 0 {
			t.Errorf("%s: a new connection got %v, want the first certificate", b.name, got)
		}
		if got := served(t, kept, url); got.Cmp(first.Cert.SerialNumber) != 0 {
			t.Errorf("%s: the open connection got %v", b.name, got)
		}
	}
	if p.Leaf().SerialNumber.Cmp(first.Cert.SerialNumber) != 0 {
		t.Error("Leaf is not the first certificate")
	}
	tlstest.WritePair(t, dir, third)
	waitServed(t, ca, url, third.Cert, reloadDeadline)
}

// TestReloadOnRequest: Reload (what SIGHUP calls) takes a new pair without
// a watch, and reading the same pair again is no change.
func TestReloadOnRequest(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	first := ca.Server(t, "first", time.Now().Add(time.Hour))
	second := ca.Server(t, "second", time.Now().Add(time.Hour))
	dir := t.TempDir()
	certFile, keyFile := tlstest.WritePair(t, dir, first)
	var obs observed
	p, err := Open(certFile, keyFile, Options{OnReload: obs.onReload})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := obs.counts(); ok != 1 {
		t.Errorf("the same pair read again was observed as a load (%d)", ok)
	}
	tlstest.WritePair(t, dir, second)
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	if p.Leaf().SerialNumber.Cmp(second.Cert.SerialNumber) != 0 {
		t.Error("Reload did not take the new pair")
	}
}

// TestClientCertificates: with a client CA, a client certificate it signed
// is required; none, or one of another CA, fails the handshake.
func TestClientCertificates(t *testing.T) {
	ca := tlstest.NewCA(t, "server ca")
	clients, strangers := tlstest.NewCA(t, "client ca"), tlstest.NewCA(t, "another ca")
	dir := t.TempDir()
	certFile, keyFile := tlstest.WritePair(t, dir, ca.Server(t, "server", time.Now().Add(time.Hour)))
	p, err := Open(certFile, keyFile, Options{})
	if err != nil {
		t.Fatal(err)
	}
	url := serveTLS(t, p.ServerConfig(clients.Pool()))
	tests := []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"signed by the client CA", []tls.Certificate{clients.Client(t, "ingress").TLS(t)}, true},
		{"no certificate", nil, false},
		{"signed by another CA", []tls.Certificate{strangers.Client(t, "intruder").TLS(t)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := client(ca, tt.certs...)
			defer c.CloseIdleConnections()
			res, err := c.Get(url)
			if err == nil {
				res.Body.Close()
			}
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// TestProtocols: TLS 1.1 is refused; ALPN offers only http/1.1.
func TestProtocols(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	certFile, keyFile := tlstest.WritePair(t, t.TempDir(), ca.Server(t, "server", time.Now().Add(time.Hour)))
	p, err := Open(certFile, keyFile, Options{})
	if err != nil {
		t.Fatal(err)
	}
	url := serveTLS(t, p.ServerConfig(nil))
	addr := url[len("https://"):]
	old, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11})
	if err == nil {
		old.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.ConnectionState().NegotiatedProtocol; got != "http/1.1" {
		t.Errorf("ALPN chose %q, want http/1.1", got)
	}
}

// TestOpenRefuses: a pair that does not load at start is an error, named.
func TestOpenRefuses(t *testing.T) {
	var pe *PartError
	if _, err := Open("/nonexistent/tls.crt", "/nonexistent/tls.key", Options{}); !errors.As(err, &pe) || pe.Part != PartCert {
		t.Fatalf("err %v, want a PartError of the certificate", err)
	}
}
