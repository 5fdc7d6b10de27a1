package authn

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/store"
)

// The catalog tests run a real JWKS endpoint over HTTP (jwksServer), sign
// tokens with keys generated here, and let the authenticator fetch the keys
// through keyfunc and jwkset exactly as in production.

const (
	catIssuer   = "https://catalog.zectre.test"
	catAudience = "zectre-auth"
)

// signingKey is a key of the fake catalog: the private half signs tokens,
// the public half is published in the JWKS under kid, declaring alg (none
// when alg is "").
type signingKey struct {
	kid    string
	alg    string // declared in the JWK; "" declares nothing
	use    jwkset.USE
	priv   crypto.Signer
	method jwt.SigningMethod
}

// Keys are slow to generate (RSA) and immutable: one set per test binary.
var testKeys = sync.OnceValue(func() map[string]crypto.Signer {
	out := map[string]crypto.Signer{}
	for _, name := range []string{"rsa-a", "rsa-b", "rsa-c"} {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		out[name] = k
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	out["rsa-weak"] = weak
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	out["ec"] = ec
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	out["ed"] = ed
	return out
})

func rsaKey(kid, name string) signingKey {
	return signingKey{kid: kid, alg: "RS256", use: jwkset.UseSig, priv: testKeys()[name], method: jwt.SigningMethodRS256}
}

// jwk is k's public half as the JWKS publishes it.
func (k signingKey) jwk(t testing.TB) jwkset.JWKMarshal {
	t.Helper()
	opts := jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, USE: k.use}}
	if _, ok := k.priv.(ed25519.PrivateKey); ok {
		opts.Metadata.ALG = jwkset.AlgEdDSA // jwkset insists on it for Ed25519
	}
	j, err := jwkset.NewJWKFromKey(k.priv.Public(), opts)
	if err != nil {
		t.Fatalf("jwk %s: %v", k.kid, err)
	}
	m := j.Marshal()
	m.ALG = jwkset.ALG(k.alg)
	return m
}

// jwksServer serves a JWKS that a test can switch, break and redirect, and
// counts the fetches.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int64

	mu       sync.Mutex
	body     []byte
	status   int
	redirect string
	block    chan struct{} // non-nil: requests wait for it to close
}

func newJWKSServer(t testing.TB, keys ...signingKey) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK}
	s.serve(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) handle(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	s.mu.Lock()
	body, status, redirect, block := s.body, s.status, s.redirect, s.block
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
		}
		return
	}
	if redirect != "" {
		http.Redirect(w, r, redirect, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// serve publishes keys from now on.
func (s *jwksServer) serve(t testing.TB, keys ...signingKey) {
	t.Helper()
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk(t))
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.serveRaw(http.StatusOK, body)
}

func (s *jwksServer) serveRaw(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

// fail makes every fetch answer status from now on.
func (s *jwksServer) fail(status int) {
	s.serveRaw(status, []byte(`{"error":"down"}`))
}

// logBuffer collects log output safely across goroutines; the JWKS refresh
// may log after a test has finished, so it never writes to testing.T.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// newCatalog returns a CatalogAuthenticator on url with the expected issuer
// and audience set, closed when the test ends; edit adjusts the options.
func newCatalog(t testing.TB, url string, users SubjectDirectory, edit func(*CatalogOptions)) *CatalogAuthenticator {
	t.Helper()
	o := CatalogOptions{JWKSURL: url, Issuer: catIssuer, Audience: catAudience, Users: users, Logger: discardLogger}
	if edit != nil {
		edit(&o)
	}
	a, err := NewCatalogAuthenticator(context.Background(), o)
	if err != nil {
		t.Fatalf("NewCatalogAuthenticator: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// catClaims are the claims of a valid catalog token for subject sub.
func catClaims(sub string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss":   catIssuer,
		"aud":   catAudience,
		"sub":   sub,
		"email": sub + "@catalog.example",
		"name":  "Catalog User",
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
		"jti":   uuid.NewString(), // every token distinct, so none is a cache hit by accident
	}
}

// edited returns a copy of c with the pairs of kv set (a nil value deletes).
func edited(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// mint signs claims with k, naming k.kid in the header.
func mint(t testing.TB, k signingKey, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, claims)
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatalf("sign with %s: %v", k.kid, err)
	}
	return s
}

func bearer(tok string) Credentials { return Credentials{Authorization: "Bearer " + tok} }

// memDirectory is an in-memory SubjectDirectory for benchmarks and the
// fuzz target, where a database would measure the database; the tests of
// behaviour use the real stores.
type memDirectory struct {
	mu       sync.Mutex
	users    map[string]store.User
	subjects map[[2]string]string
}

func newMemDirectory() *memDirectory {
	return &memDirectory{users: map[string]store.User{}, subjects: map[[2]string]string{}}
}

func (d *memDirectory) UserByID(_ context.Context, id string) (store.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.users[id]
	if !ok {
		return store.User{}, store.ErrNotFound
	}
	return u, nil
}

func (d *memDirectory) APIKeyByDigest(context.Context, [32]byte) (store.APIKey, error) {
	return store.APIKey{}, store.ErrNotFound
}

func (d *memDirectory) UserBySubject(_ context.Context, issuer, subject string) (store.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id, ok := d.subjects[[2]string{issuer, subject}]
	if !ok {
		return store.User{}, store.ErrNotFound
	}
	return d.users[id], nil
}

func (d *memDirectory) LinkSubject(_ context.Context, issuer, subject string, u store.User) (store.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id, ok := d.subjects[[2]string{issuer, subject}]; ok {
		return d.users[id], nil
	}
	for _, other := range d.users {
		if other.Email == u.Email {
			return store.User{}, store.ErrEmailExists
		}
	}
	d.users[u.ID] = u
	d.subjects[[2]string{issuer, subject}] = u.ID
	return u, nil
}

func (d *memDirectory) add(u store.User) {
	d.mu.Lock()
	d.users[u.ID] = u
	d.mu.Unlock()
}
