package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"unsafe"
)

// KeyPrefix starts every API key, so that scanners and humans recognise one.
const KeyPrefix = "zec_"

// Key layout: KeyPrefix, apiKeyRandomLen base62 characters from a CSPRNG
// (36 × log2(62) ≈ 214 bits), then apiKeyChecksumLen base62 characters of the
// CRC-32 (IEEE) of the random part, left-padded with '0'. The checksum lets a
// mistyped or forged key be rejected before any hashing or storage lookup;
// it is not a secret and adds no entropy.
const (
	apiKeyRandomLen   = 36
	apiKeyChecksumLen = 6 // 62^6 > 2^32
	apiKeyLen         = len(KeyPrefix) + apiKeyRandomLen + apiKeyChecksumLen
	apiKeyPrefixLen   = 8 // shown to users and stored in clear to tell keys apart
)

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Failures of ParseKey. Each wraps ErrInvalidKey; they are values, not
// fmt.Errorf calls, so rejecting garbage allocates nothing.
var (
	errKeyLength   = fmt.Errorf("%w: wrong length", ErrInvalidKey)
	errKeyPrefix   = fmt.Errorf("%w: wrong prefix", ErrInvalidKey)
	errKeyChar     = fmt.Errorf("%w: character outside base62", ErrInvalidKey)
	errKeyChecksum = fmt.Errorf("%w: checksum mismatch", ErrInvalidKey)
)

// NewKey is a freshly generated API key. Raw is shown to the user once;
// storage keeps only Prefix and Digest.
type NewKey struct {
	Raw    string   // the full key, e.g. zec_1234abcd…
	Prefix string   // the first 8 characters of Raw
	Digest [32]byte // SHA-256 of Raw
}

// GenerateKey returns a new random API key.
func GenerateKey() (NewKey, error) {
	var buf [apiKeyLen]byte
	copy(buf[:], KeyPrefix)
	random := buf[len(KeyPrefix) : len(KeyPrefix)+apiKeyRandomLen]
	if err := randomBase62(random); err != nil {
		return NewKey{}, fmt.Errorf("authn: generate api key: %w", err)
	}
	putChecksum(buf[len(KeyPrefix)+apiKeyRandomLen:], crc32IEEE(string(random)))
	raw := string(buf[:])
	return NewKey{Raw: raw, Prefix: raw[:apiKeyPrefixLen], Digest: KeyDigest(raw)}, nil
}

// ParseKey checks that raw has the shape and checksum of an API key and
// returns its SHA-256 digest, the value storage is keyed by. Any failure
// wraps ErrInvalidKey and returns a zero digest; nothing is hashed then.
func ParseKey(raw string) ([32]byte, error) {
	if err := checkAPIKey(raw); err != nil {
		return [32]byte{}, err
	}
	return KeyDigest(raw), nil
}

// KeyDigest returns the SHA-256 digest of raw. Keys carry over 190 bits of
// entropy, so a fast hash is enough; a slow one would only slow every request.
func KeyDigest(raw string) [32]byte {
	// sha256.Sum256([]byte(raw)) would copy raw to the heap; a key fits on
	// the stack.
	if len(raw) <= apiKeyLen {
		var buf [apiKeyLen]byte
		n := copy(buf[:], raw)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(raw))
}

func checkAPIKey(raw string) error {
	if len(raw) != apiKeyLen {
		return errKeyLength
	}
	if raw[:len(KeyPrefix)] != KeyPrefix {
		return errKeyPrefix
	}
	body := raw[len(KeyPrefix):]
	for i := 0; i < len(body); i++ {
		if !isBase62(body[i]) {
			return errKeyChar
		}
	}
	var want [apiKeyChecksumLen]byte
	putChecksum(want[:], crc32IEEE(body[:apiKeyRandomLen]))
	if string(want[:]) != body[apiKeyRandomLen:] {
		return errKeyChecksum
	}
	return nil
}

func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

// randomBase62 fills dst with uniformly random base62 characters. Bytes of
// 248 or more are rejected (248 = 4 × 62), so b % 62 has no modulo bias.
func randomBase62(dst []byte) error {
	var pool [64]byte
	for i := 0; i < len(dst); {
		if _, err := rand.Read(pool[:]); err != nil {
			return err
		}
		for _, b := range pool {
			if b >= 248 {
				continue
			}
			dst[i] = base62Alphabet[b%62]
			i++
			if i == len(dst) {
				break
			}
		}
	}
	return nil
}

// putChecksum writes v as len(dst) base62 digits, most significant first.
func putChecksum(dst []byte, v uint32) {
	n := uint64(v)
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = base62Alphabet[n%62]
		n /= 62
	}
}

// crc32IEEE is crc32.ChecksumIEEE over a string, through a read-only view
// of its bytes: converting would allocate on every parse, and the library
// function uses the CPU's CRC instructions.
func crc32IEEE(s string) uint32 {
	return crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(s), len(s)))
}
