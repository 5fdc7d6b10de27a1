package authn

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// secretFileName is the JWT secret's file inside the data directory.
const secretFileName = "jwt-secret"

// secretFileMax bounds how much of the secret file is read.
const secretFileMax = 4096

// LoadOrCreateSecret returns the HS256 secret kept in <dataDir>/jwt-secret,
// creating it on first use: 32 random bytes, hex-encoded, mode 0600, in a
// directory created with mode 0700. Several processes starting at once on
// the same directory all end up with the one secret that was written first.
// An existing file must hold at least 32 bytes (surrounding whitespace is
// ignored); if its permissions are broader than 0600 they are tightened.
// The secret is the file's text, as bytes.
func LoadOrCreateSecret(dataDir string) ([]byte, error) {
	if dataDir == "" {
		return nil, errors.New("authn: jwt secret: empty data directory")
	}
	path := filepath.Join(dataDir, secretFileName)
	secret, err := readSecretRetry(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("authn: jwt secret: %w", err)
	}
	secret, err = createSecret(dataDir, path)
	if errors.Is(err, fs.ErrExist) {
		// Another process won the race.
		return readSecretRetry(path)
	}
	return secret, err
}

// createSecret writes a new secret to path unless path exists, in which case
// it returns an error wrapping fs.ErrExist. The secret is written to a
// temporary file and hard-linked into place, which fails if path exists:
// exclusive like O_EXCL, but a reader never sees a half-written file and a
// crash leaves no empty secret behind.
func createSecret(dir, path string) ([]byte, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("authn: jwt secret: %w", err)
	}
	secret := []byte(hex.EncodeToString(raw[:]))

	tmp, err := os.CreateTemp(dir, "."+secretFileName+"-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("authn: jwt secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeAndClose(tmp, secret); err != nil {
		return nil, fmt.Errorf("authn: jwt secret: %w", err)
	}
	err = linkFile(tmp.Name(), path)
	switch {
	case err == nil:
		syncDir(dir)
		return secret, nil
	case errors.Is(err, fs.ErrExist):
		return nil, err
	}
	// The file system has no hard links: create the file exclusively.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("authn: jwt secret: %w", err) // fs.ErrExist passes through
	}
	if err := writeAndClose(f, secret); err != nil {
		return nil, fmt.Errorf("authn: jwt secret: %w", err)
	}
	syncDir(dir)
	return secret, nil
}

func writeAndClose(f *os.File, b []byte) error {
	_, err := f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a new directory entry durable; failure only costs
// durability, so it is ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// linkFile is os.Link; tests replace it to take the no-hard-link path.
var linkFile = os.Link

var errSecretShort = fmt.Errorf("authn: jwt secret: file holds fewer than %d bytes", minSecretLen)

// readSecretRetry is readSecret, retrying a short file for a moment: with
// the no-hard-link fallback of createSecret, another process may have created
// the file and not yet written it. A file that stays short is an error.
func readSecretRetry(path string) ([]byte, error) {
	secret, err := readSecret(path)
	for i := 0; i < 10 && errors.Is(err, errSecretShort); i++ {
		time.Sleep(20 * time.Millisecond)
		secret, err = readSecret(path)
	}
	return secret, err
}

// readSecret reads and checks an existing secret file, tightening loose
// permissions on the open file (not by name, which could be swapped).
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("authn: jwt secret: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("authn: jwt secret: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("authn: jwt secret: %s is not a regular file", path)
	}
	if info.Mode().Perm()&^0o600 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return nil, fmt.Errorf("authn: jwt secret: tighten permissions of %s: %w", path, err)
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, secretFileMax+1))
	if err != nil {
		return nil, fmt.Errorf("authn: jwt secret: %w", err)
	}
	if len(b) > secretFileMax {
		return nil, fmt.Errorf("authn: jwt secret: %s is larger than %d bytes", path, secretFileMax)
	}
	secret := []byte(strings.TrimSpace(string(b)))
	if len(secret) < minSecretLen {
		return nil, fmt.Errorf("%w: %s", errSecretShort, path)
	}
	return secret, nil
}
