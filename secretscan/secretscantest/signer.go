// Package secretscantest signs leak reports as GitHub does and serves the
// keys document, for tests of the service and of the program.
package secretscantest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Signer is a P-256 key named ID.
type Signer struct {
	ID  string
	key *ecdsa.PrivateKey
}

// NewSigner makes a key for the test.
func NewSigner(t testing.TB, id string) *Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Signer{ID: id, key: k}
}

// Sign is the Github-Public-Key-Signature of body.
func (s *Signer) Sign(t testing.TB, body []byte) string {
	t.Helper()
	d := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// PEM is the public key as the document carries it.
func (s *Signer) PEM(t testing.TB) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Document is a keys document server on loopback.
type Document struct {
	URL     string
	Fetches atomic.Int64
	keys    atomic.Pointer[[]byte]
}

// Serve serves the public keys of signers until the test ends.
func Serve(t testing.TB, signers ...*Signer) *Document {
	t.Helper()
	d := &Document{}
	d.Set(t, signers...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		d.Fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(*d.keys.Load()) //nolint:errcheck // a test server
	}))
	t.Cleanup(srv.Close)
	d.URL = srv.URL + "/meta/public_keys/secret_scanning"
	return d
}

// Set replaces the keys the document serves.
func (d *Document) Set(t testing.TB, signers ...*Signer) {
	t.Helper()
	type entry struct {
		ID      string `json:"key_identifier"`
		Key     string `json:"key"`
		Current bool   `json:"is_current"`
	}
	doc := struct {
		PublicKeys []entry `json:"public_keys"`
	}{PublicKeys: []entry{}}
	for _, s := range signers {
		doc.PublicKeys = append(doc.PublicKeys, entry{ID: s.ID, Key: s.PEM(t), Current: true})
	}
	b, _ := json.Marshal(doc)
	d.keys.Store(&b)
}
