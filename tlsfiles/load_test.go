package tlsfiles

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/tlsfiles/tlstest"
)

func TestLoad(t *testing.T) {
	ca := tlstest.NewCA(t, "test ca")
	good := ca.Server(t, "good", time.Now().Add(time.Hour))
	other := ca.Server(t, "other", time.Now().Add(time.Hour))
	expired := ca.Server(t, "expired", time.Now().Add(-time.Minute))
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key := write("good.crt", good.CertPEM), write("good.key", good.KeyPEM)
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name      string
		cert, key string
		part      string // "" for success
		is        error
	}{
		{"the pair", cert, key, "", nil},
		{"one file holding both", write("both.pem", append(append([]byte{}, good.CertPEM...), good.KeyPEM...)), write("both2.pem", append(append([]byte{}, good.KeyPEM...), good.CertPEM...)), "", nil},
		{"no cert file", missing, key, PartCert, fs.ErrNotExist},
		{"no key file", cert, missing, PartKey, fs.ErrNotExist},
		{"cert is not PEM", write("junk.crt", []byte("junk")), key, PartCert, nil},
		{"cert is a key", key, key, PartCert, nil},
		{"key of another cert", cert, write("other.key", other.KeyPEM), PartKey, nil},
		{"key is not PEM", cert, write("junk.key", []byte("junk")), PartKey, nil},
		{"expired", write("expired.crt", expired.CertPEM), write("expired.key", expired.KeyPEM), PartCert, ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.cert, tt.key, time.Now())
			if tt.part == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Leaf == nil || c.Leaf.SerialNumber.Cmp(good.Cert.SerialNumber) != 0 {
					t.Fatalf("leaf %v, want the good certificate", c.Leaf)
				}
				return
			}
			var pe *PartError
			if !errors.As(err, &pe) || pe.Part != tt.part {
				t.Fatalf("err %v, want a PartError of %s", err, tt.part)
			}
			if c != nil {
				t.Error("a certificate came with the error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err %v, want %v", err, tt.is)
			}
		})
	}
}

func TestLoadCAs(t *testing.T) {
	ca := tlstest.NewCA(t, "clients")
	dir := t.TempDir()
	good, junk := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(good, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCAs(good); err != nil {
		t.Errorf("good bundle: %v", err)
	}
	for _, f := range []string{junk, filepath.Join(dir, "missing")} {
		if _, err := LoadCAs(f); err == nil {
			t.Errorf("%s: no error", filepath.Base(f))
		}
	}
}
