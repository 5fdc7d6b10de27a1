package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyFileName is the generated signing key's file inside the data directory.
const KeyFileName = "identity-key.pem"

// keyFileMax bounds how much of a key file is read.
const keyFileMax = 16 << 10

// ReadKeyFile reads an Ed25519 private key from a PKCS#8 PEM file.
func ReadKeyFile(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, keyFileMax+1))
	if err != nil {
		return nil, err
	}
	if len(b) > keyFileMax {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, keyFileMax)
	}
	return parseKey(b, path)
}

func parseKey(b []byte, path string) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PKCS#8 PEM block (\"PRIVATE KEY\")", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PKCS#8 private key", path)
	}
	ed, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	return ed, nil
}

// LoadOrCreateKey returns the signing key kept in <dataDir>/identity-key.pem,
// generating it on first use (mode 0600, directory 0700). Processes starting
// at once on the same directory end up with the key written first: the file
// is written under a temporary name and linked into place, which fails if
// it exists.
func LoadOrCreateKey(dataDir string) (ed25519.PrivateKey, error) {
	if dataDir == "" {
		return nil, errors.New("identity key: empty data directory")
	}
	path := filepath.Join(dataDir, KeyFileName)
	k, err := ReadKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	tmp, err := os.CreateTemp(dataDir, "."+KeyFileName+"-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ReadKeyFile(path) // another process won the race
		}
		return nil, fmt.Errorf("identity key: %w", err)
	}
	return priv, nil
}

// KeyID is the RFC 7638 thumbprint of an Ed25519 public key: it names the
// key without revealing anything and is the same on every replica.
func KeyID(pub ed25519.PublicKey) string {
	// Members in lexicographic order, no whitespace (RFC 8037 section 2).
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
