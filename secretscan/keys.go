// Package secretscan verifies leak reports in the format of GitHub's secret
// scanning partner program: a JSON body signed with ECDSA (P-256, SHA-256)
// by a key named in a public-keys document.
package secretscan

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Limits of fetching the keys document. The document holds a handful of
// PEM keys; 64 KiB is many times that.
const (
	maxDocumentBytes = 64 << 10
	fetchTimeout     = 5 * time.Second
	// refetchInterval: a report naming an unknown key causes at most one
	// fetch per interval, so forged identifiers cannot make the service
	// hammer the document's host.
	refetchInterval = time.Minute
)

// Errors of Verify. ErrSignature covers every reason a report is not
// believed, so that a caller cannot tell a bad signature from an unknown key.
var (
	ErrSignature = errors.New("secretscan: signature not verified")
)

// Verifier checks report signatures against the keys of one document.
type Verifier struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	keys      map[string]*ecdsa.PublicKey
	lastFetch time.Time // zero: never fetched
	// fetchErr is the last fetch's failure: until the next fetch may run,
	// an unknown key is "cannot tell" (ErrFetch, the scanner retries), not
	// "forged".
	fetchErr error
}

// NewVerifier returns a verifier for the keys document at url. now may be
// nil (time.Now).
func NewVerifier(url string, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{
		url: url,
		now: now,
		client: &http.Client{
			Timeout: fetchTimeout,
			// A redirect could lead the fetch anywhere; the document's URL
			// is configured exactly.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Verify checks that signature (base64 of an ASN.1 ECDSA signature) signs
// body with the key named identifier.
func (v *Verifier) Verify(ctx context.Context, identifier, signature string, body []byte) error {
	if identifier == "" || signature == "" {
		return ErrSignature
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return ErrSignature
	}
	key, err := v.key(ctx, identifier)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(key, digest[:], sig) {
		return ErrSignature
	}
	return nil
}

// key returns the key named identifier, fetching the document when it is
// not known and the last fetch is older than refetchInterval. A failed
// fetch keeps the keys already known. The lock is held during a fetch:
// reports are rare, and one fetch at a time is the point.
func (v *Verifier) key(ctx context.Context, identifier string) (*ecdsa.PublicKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k, ok := v.keys[identifier]; ok {
		return k, nil
	}
	if !v.lastFetch.IsZero() && v.now().Sub(v.lastFetch) < refetchInterval {
		if v.fetchErr != nil {
			return nil, v.fetchErr
		}
		return nil, ErrSignature
	}
	v.lastFetch = v.now()
	keys, err := v.fetch(ctx)
	v.fetchErr = err
	if err != nil {
		return nil, err
	}
	v.keys = keys
	if k, ok := keys[identifier]; ok {
		return k, nil
	}
	return nil, ErrSignature
}

// document is the shape of GitHub's secret scanning public-keys document.
type document struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
	} `json:"public_keys"`
}

// ErrFetch is a keys document that could not be fetched or read.
var ErrFetch = errors.New("secretscan: keys document unavailable")

func (v *Verifier) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: status %d", ErrFetch, resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	if len(raw) > maxDocumentBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFetch, maxDocumentBytes)
	}
	var doc document
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	keys := make(map[string]*ecdsa.PublicKey, len(doc.PublicKeys))
	for _, k := range doc.PublicKeys {
		if pub := parseKey(k.Key); pub != nil && k.KeyIdentifier != "" {
			keys[k.KeyIdentifier] = pub
		}
	}
	return keys, nil
}

// parseKey reads a PEM "PUBLIC KEY" holding an ECDSA key; anything else is
// nil (skipped: one odd entry must not hide the others).
func parseKey(s string) *ecdsa.PublicKey {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil
	}
	k, _ := pub.(*ecdsa.PublicKey)
	return k
}
