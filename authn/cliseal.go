package authn

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// The CLI flow's code is the only secret the CLI holds while it waits. The
// store keeps the code's digest (to find the session) and the raw API key
// sealed with a key derived from the code (so a database reader learns
// neither the code nor the key).
const (
	codeBytes     = 32
	codeDigestTag = "zectre-auth cli code v1\x00"
	sealInfo      = "zectre-auth cli seal v1"
	// MaxCLICodeLength bounds codes accepted from clients.
	MaxCLICodeLength = 2 * codeBytes
)

// ErrSealBroken: a sealed key could not be opened with the code.
var ErrSealBroken = errors.New("authn: sealed key cannot be opened")

// NewCLICode returns a fresh code (64 lowercase hex characters) and its digest.
func NewCLICode() (code string, digest [32]byte) {
	var b [codeBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	code = hex.EncodeToString(b[:])
	return code, CLICodeDigest(code)
}

// CLICodeDigest is the lookup digest of a code.
func CLICodeDigest(code string) [32]byte {
	return sha256.Sum256([]byte(codeDigestTag + code))
}

func sealAEAD(code string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(code), nil, sealInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// SealForCode encrypts secret under a key derived from code. The code's
// digest is bound as associated data, so a sealed value moved to another
// session does not open.
func SealForCode(code string, secret []byte) ([]byte, error) {
	aead, err := sealAEAD(code)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	_, _ = rand.Read(nonce)
	d := CLICodeDigest(code)
	return aead.Seal(nonce, nonce, secret, d[:]), nil
}

// OpenWithCode reverses SealForCode.
func OpenWithCode(code string, sealed []byte) ([]byte, error) {
	aead, err := sealAEAD(code)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, ErrSealBroken
	}
	d := CLICodeDigest(code)
	out, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], d[:])
	if err != nil {
		return nil, ErrSealBroken
	}
	return out, nil
}
