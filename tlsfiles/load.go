// Package tlsfiles serves the main listener's certificate from a pair of
// PEM files and reloads it, without a restart and without touching open
// connections, when either file changes (including a Kubernetes Secret's
// "..data" symlink swap) or when asked (SIGHUP). A pair that does not load
// is refused and the one already served stays.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// The parts of a pair a PartError names.
const (
	PartCert = "cert"
	PartKey  = "key"
)

// PartError is a failure to load a pair, blamed on one of its files, so
// that the caller can name the setting that points at it.
type PartError struct {
	Part string // PartCert or PartKey
	Err  error
}

func (e *PartError) Error() string { return e.Err.Error() }
func (e *PartError) Unwrap() error { return e.Err }

// ErrExpired: the certificate's NotAfter has passed.
var ErrExpired = errors.New("certificate has expired")

// Load reads a certificate chain and its private key and checks that they
// belong together and that the leaf has not expired at now. The leaf is
// parsed first, so that a bad certificate file is blamed on the
// certificate and a key that does not match it on the key.
func Load(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, &PartError{PartCert, err}
	}
	leaf, err := parseLeaf(certPEM)
	if err != nil {
		return nil, &PartError{PartCert, err}
	}
	if now.After(leaf.NotAfter) {
		return nil, &PartError{PartCert, fmt.Errorf("%w (not after %s)", ErrExpired, leaf.NotAfter.UTC().Format(time.RFC3339))}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, &PartError{PartKey, err}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The certificate parsed above, so what is wrong is the key: it
		// does not parse or does not match the certificate.
		return nil, &PartError{PartKey, fmt.Errorf("key does not load with the certificate: %w", err)}
	}
	return &pair, nil
}

// parseLeaf is the first certificate of a PEM chain.
func parseLeaf(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM certificate found")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		leaf, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate does not parse: %w", err)
		}
		return leaf, nil
	}
}

// LoadCAs reads a PEM bundle of CA certificates (tls_client_ca_file) into
// a pool; a file holding none is an error.
func LoadCAs(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}
