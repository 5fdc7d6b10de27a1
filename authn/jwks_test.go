package authn

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// resolveCat authenticates tok with a and reports the error.
func resolveCat(a *CatalogAuthenticator, tok string) error {
	_, err := a.Authenticate(context.Background(), bearer(tok))
	return err
}

func TestJWKSRotation(t *testing.T) {
	keyA, keyB := rsaKey("a", "rsa-a"), rsaKey("b", "rsa-b")
	srv := newJWKSServer(t, keyA)
	a := newCatalog(t, srv.URL, newMemDirectory(), nil)
	if err := resolveCat(a, mint(t, keyA, catClaims("rot"))); err != nil {
		t.Fatalf("token of key a: %v", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after start, want 1", n)
	}

	// The catalog rotates to b and drops a. The first token naming kid b
	// fetches the JWKS again, without a restart.
	srv.serve(t, keyB)
	if err := resolveCat(a, mint(t, keyB, catClaims("rot"))); err != nil {
		t.Fatalf("token of key b after rotation: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after rotation, want 2", n)
	}
	// Key a is gone with that fetch: a token signed with it (one never seen,
	// so not in any cache) is refused, and b keeps working without fetching.
	if err := resolveCat(a, mint(t, keyA, catClaims("rot"))); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of the removed key a: %v, want ErrInvalidToken", err)
	}
	if err := resolveCat(a, mint(t, keyB, catClaims("rot"))); err != nil {
		t.Fatalf("second token of key b: %v", err)
	}
}

func TestJWKSPeriodicRefresh(t *testing.T) {
	keyA, keyB := rsaKey("a", "rsa-a"), rsaKey("b", "rsa-b")
	srv := newJWKSServer(t, keyA, keyB)
	a := newCatalog(t, srv.URL, newMemDirectory(), func(o *CatalogOptions) { o.RefreshInterval = 20 * time.Millisecond })
	if err := resolveCat(a, mint(t, keyB, catClaims("p"))); err != nil {
		t.Fatalf("token of key b: %v", err)
	}
	// Revoking b at the catalog reaches the service with the background
	// fetch, without any token asking for it.
	srv.serve(t, keyA)
	waitFetches(t, srv, srv.fetches.Load()+2)
	if err := resolveCat(a, mint(t, keyB, catClaims("p"))); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of the revoked key b: %v, want ErrInvalidToken", err)
	}
}

// waitFetches waits until the server has seen n fetches; it fails only if
// that takes implausibly long, as a guard against a hang.
func waitFetches(t *testing.T, srv *jwksServer, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.fetches.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the JWKS saw %d fetches, want %d", srv.fetches.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJWKSDownKeepsLastGoodKeys(t *testing.T) {
	keyA := rsaKey("a", "rsa-a")
	for _, tc := range []struct {
		name    string
		breakIt func(*jwksServer)
	}{
		{"status 500", func(s *jwksServer) { s.fail(http.StatusInternalServerError) }},
		{"not json", func(s *jwksServer) { s.serveRaw(http.StatusOK, []byte("<html>maintenance</html>")) }},
		{"connection refused", func(s *jwksServer) { s.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, keyA)
			logs := &logBuffer{}
			a := newCatalog(t, srv.URL, newMemDirectory(), func(o *CatalogOptions) {
				o.RefreshInterval = 20 * time.Millisecond
				o.Logger = logs.logger()
			})
			tc.breakIt(srv)
			// Failed background fetches, and a failed fetch for an unknown kid.
			deadline := time.Now().Add(10 * time.Second)
			for strings.Count(logs.String(), "catalog jwks fetch failed") < 2 {
				if time.Now().After(deadline) {
					t.Fatalf("no failed fetches logged: %s", logs.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := resolveCat(a, mint(t, rsaKey("new", "rsa-b"), catClaims("down"))); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("unknown kid while the JWKS is down: %v, want ErrInvalidToken", err)
			}
			if err := resolveCat(a, mint(t, keyA, catClaims("down"))); err != nil {
				t.Fatalf("token of the last good key while the JWKS is down: %v", err)
			}
		})
	}
}

func TestJWKSDownAtStart(t *testing.T) {
	keyA := rsaKey("a", "rsa-a")
	srv := newJWKSServer(t, keyA)
	srv.fail(http.StatusServiceUnavailable)
	logs := &logBuffer{}
	a := newCatalog(t, srv.URL, newMemDirectory(), func(o *CatalogOptions) { o.Logger = logs.logger() })
	if !strings.Contains(logs.String(), "catalog jwks has no keys yet") {
		t.Errorf("start without keys not logged: %s", logs.String())
	}
	if err := resolveCat(a, mint(t, keyA, catClaims("late"))); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token while the JWKS is down: %v, want ErrInvalidToken", err)
	}
	// The catalog comes up: the next token's kid is unknown, so it fetches.
	srv.serve(t, keyA)
	if err := resolveCat(a, mint(t, keyA, catClaims("late"))); err != nil {
		t.Fatalf("token after the JWKS came up: %v", err)
	}
}

// TestJWKSHangingAtStart: a JWKS that accepts the connection and never
// answers delays the start by the fetch timeout, not forever.
func TestJWKSHangingAtStart(t *testing.T) {
	srv := newJWKSServer(t)
	release := make(chan struct{})
	srv.mu.Lock()
	srv.block = release
	srv.mu.Unlock()
	t.Cleanup(func() { close(release) })

	done := make(chan error, 1)
	go func() {
		a, err := NewCatalogAuthenticator(context.Background(), CatalogOptions{
			JWKSURL: srv.URL, Users: newMemDirectory(), Logger: discardLogger, HTTPTimeout: 100 * time.Millisecond,
		})
		if err == nil {
			_ = a.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("start against a hanging JWKS: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("start against a hanging JWKS did not return")
	}
}

// TestJWKSUnknownKIDFlood: tokens with random kids cannot turn into a flood
// of fetches at the catalog.
func TestJWKSUnknownKIDFlood(t *testing.T) {
	srv := newJWKSServer(t, rsaKey("a", "rsa-a"))
	a := newCatalog(t, srv.URL, newMemDirectory(), nil) // default limit: burst 2, then one per 10 s

	const n, workers = 1000, 8
	tokens := make(chan string, n)
	for range n {
		// The signature does not matter: the kid is unknown before it is looked at.
		tokens <- rawToken(t, map[string]any{"alg": "RS256", "kid": randomKID(t)}, catClaims("flood"),
			func(string) []byte { return make([]byte, 256) })
	}
	close(tokens)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range workers {
		wg.Go(func() {
			for tok := range tokens {
				if err := resolveCat(a, tok); !errors.Is(err, ErrInvalidToken) {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("random kid: %v, want ErrInvalidToken", err)
	}
	// One fetch at start, the burst, one per interval elapsed, and one
	// request that may have reserved the next slot within its wait bound.
	elapsed := time.Since(start)
	limit := 1 + int64(DefaultUnknownKIDBurst) + int64(elapsed/DefaultUnknownKIDInterval) + 1
	if got := srv.fetches.Load(); got > limit {
		t.Fatalf("%d random kids caused %d fetches in %v, want at most %d", n, got, elapsed, limit)
	}
	t.Logf("%d random kids, %d fetches in %v", n, srv.fetches.Load(), elapsed)
}

func randomKID(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestJWKSRedirectRefused(t *testing.T) {
	keyA := rsaKey("a", "rsa-a")
	target := newJWKSServer(t, keyA)
	redirector := newJWKSServer(t)
	redirector.mu.Lock()
	redirector.redirect = target.URL
	redirector.mu.Unlock()

	logs := &logBuffer{}
	a := newCatalog(t, redirector.URL, newMemDirectory(), func(o *CatalogOptions) { o.Logger = logs.logger() })
	if err := resolveCat(a, mint(t, keyA, catClaims("redir"))); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token with keys behind a redirect: %v, want ErrInvalidToken", err)
	}
	if !strings.Contains(logs.String(), errJWKSRedirect.Error()) {
		t.Errorf("refused redirect not logged: %s", logs.String())
	}
	if redirector.fetches.Load() == 0 {
		t.Fatal("the JWKS URL was never fetched")
	}
	if n := target.fetches.Load(); n != 0 {
		t.Fatalf("the redirect was followed %d times", n)
	}
}

func TestJWKSOversizedResponse(t *testing.T) {
	keyA := rsaKey("a", "rsa-a")
	srv := newJWKSServer(t)
	// A valid JWKS with key a, padded beyond the cap with whitespace.
	good := newJWKSServer(t, keyA)
	body := append([]byte(strings.Repeat(" ", maxJWKSBytes)), good.body...)
	srv.serveRaw(http.StatusOK, body)

	logs := &logBuffer{}
	a := newCatalog(t, srv.URL, newMemDirectory(), func(o *CatalogOptions) { o.Logger = logs.logger() })
	if err := resolveCat(a, mint(t, keyA, catClaims("big"))); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token with keys in an oversized JWKS: %v, want ErrInvalidToken", err)
	}
	if !strings.Contains(logs.String(), "response larger than") {
		t.Errorf("oversized response not logged: %s", logs.String())
	}
	// The same JWKS within the cap is fine.
	srv.serveRaw(http.StatusOK, good.body)
	if err := resolveCat(a, mint(t, keyA, catClaims("big"))); err != nil {
		t.Fatalf("token after the JWKS shrank: %v", err)
	}
}

// TestCatalogTokenWithoutKID: a token that names no kid is checked against
// the keys of its algorithm.
func TestCatalogTokenWithoutKID(t *testing.T) {
	keyA, keyB := rsaKey("a", "rsa-a"), rsaKey("b", "rsa-b")
	srv := newJWKSServer(t, keyA, keyB)
	a := newCatalog(t, srv.URL, newMemDirectory(), nil)
	sign := func(k signingKey, method jwt.SigningMethod) string {
		s, err := jwt.NewWithClaims(method, catClaims("nokid")).SignedString(k.priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if err := resolveCat(a, sign(keyB, jwt.SigningMethodRS256)); err != nil {
		t.Fatalf("RS256 without kid: %v", err)
	}
	if err := resolveCat(a, sign(rsaKey("c", "rsa-c"), jwt.SigningMethodRS256)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("RS256 without kid by an unknown key: %v, want ErrInvalidToken", err)
	}
	if err := resolveCat(a, sign(keyA, jwt.SigningMethodPS256)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("PS256 without kid for RS256 keys: %v, want ErrInvalidToken", err)
	}
}
