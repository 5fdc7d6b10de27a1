package main

import (
	"crypto/tls"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/tlsfiles/tlstest"
)

// A TLS setting that cannot serve stops the start with exit status 2 and
// one line naming the setting as it was set.
func TestTLSStartProblems(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	files := t.TempDir()
	cert, key := tlstest.WritePair(t, files, ca.Server(t, "good", time.Now().Add(time.Hour)))
	otherKey := filepath.Join(files, "other.key")
	if err := os.WriteFile(otherKey, ca.Server(t, "other", time.Now().Add(time.Hour)).KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	expiredCert, expiredKey := tlstest.WritePair(t, t.TempDir(), ca.Server(t, "expired", time.Now().Add(-time.Minute)))
	missing := filepath.Join(files, "missing.crt")
	for _, tc := range []struct {
		name string
		env  []string
		line string // the start of the one line
	}{
		{"cert without key", []string{"ZECTRE_AUTH_TLS_CERT_FILE=" + cert},
			"zectre-auth: config: ZECTRE_AUTH_TLS_CERT_FILE: set without tls_key_file (ZECTRE_AUTH_TLS_KEY_FILE)"},
		{"key without cert", []string{"ZECTRE_AUTH_TLS_KEY_FILE=" + key},
			"zectre-auth: config: ZECTRE_AUTH_TLS_KEY_FILE: set without tls_cert_file (ZECTRE_AUTH_TLS_CERT_FILE)"},
		{"unreadable cert", []string{"ZECTRE_AUTH_TLS_CERT_FILE=" + missing, "ZECTRE_AUTH_TLS_KEY_FILE=" + key},
			"zectre-auth: ZECTRE_AUTH_TLS_CERT_FILE: open " + missing},
		{"mismatched key", []string{"ZECTRE_AUTH_TLS_CERT_FILE=" + cert, "ZECTRE_AUTH_TLS_KEY_FILE=" + otherKey},
			"zectre-auth: ZECTRE_AUTH_TLS_KEY_FILE: key does not load with the certificate"},
		{"expired", []string{"ZECTRE_AUTH_TLS_CERT_FILE=" + expiredCert, "ZECTRE_AUTH_TLS_KEY_FILE=" + expiredKey},
			"zectre-auth: ZECTRE_AUTH_TLS_CERT_FILE: certificate has expired"},
		{"client CA without TLS", []string{"ZECTRE_AUTH_TLS_CLIENT_CA_FILE=" + cert},
			"zectre-auth: config: ZECTRE_AUTH_TLS_CLIENT_CA_FILE: needs tls_cert_file and tls_key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			environ := env(append([]string{"ZECTRE_AUTH_LISTEN=127.0.0.1:0", "ZECTRE_AUTH_ADMIN_LISTEN=127.0.0.1:0"}, tc.env...)...)
			_, errOut, code := command(t, t.TempDir(), environ, "serve")
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if code != exitConfig || len(lines) != 1 || !strings.HasPrefix(lines[0], tc.line) {
				t.Fatalf("exit %d, stderr %q; want %d and one line starting %q", code, errOut, exitConfig, tc.line)
			}
		})
	}
}

// The binary serves TLS, logs it, survives SIGHUP (reloading), and serves
// a pair rotated on disk to new connections within 2 s.
func TestTLSServe(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	first, second := ca.Server(t, "first", time.Now().Add(time.Hour)), ca.Server(t, "second", time.Now().Add(time.Hour))
	files := t.TempDir()
	cert, key := tlstest.Secret(t, files, first)
	s := start(t, t.TempDir(), env("ZECTRE_AUTH_TLS_CERT_FILE="+cert, "ZECTRE_AUTH_TLS_KEY_FILE="+key))
	base := "https://" + strings.TrimPrefix(s.base, "http://")
	if !strings.Contains(s.logs(), `"tls":true`) {
		t.Errorf("the listening line does not say tls:\n%s", s.logs())
	}
	served := func() *big.Int {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
		defer c.CloseIdleConnections()
		res, err := c.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("/healthz over TLS: %d", res.StatusCode)
		}
		return res.TLS.PeerCertificates[0].SerialNumber
	}
	if served().Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatal("not the first certificate")
	}

	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.logs(), "SIGHUP: reloading the tls certificate") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged after SIGHUP:\n%s", s.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	served() // still serving

	tlstest.Secret(t, files, second)
	start := time.Now()
	for served().Cmp(second.Cert.SerialNumber) != 0 {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("the rotated pair was not served within 2s:\n%s", s.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(s.logs(), "tls certificate reloaded") {
		t.Error("the reload was not logged")
	}
	s.stop()
}

// SIGHUP never stops the service, with TLS off too.
func TestHangupWithoutTLS(t *testing.T) {
	s := start(t, t.TempDir(), env())
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.logs(), "SIGHUP: nothing to reload") {
		if time.Now().After(deadline) {
			t.Fatalf("no line after SIGHUP:\n%s", s.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := s.call("GET", "/healthz", ""); code != 200 {
		t.Fatalf("/healthz after SIGHUP: %d", code)
	}
	s.stop()
}
