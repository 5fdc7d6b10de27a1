package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestDrillJWKSDown: the JWKS endpoint first fails (500), then is gone
// (connection refused). A token naming an unknown kid makes the replica
// fetch the JWKS again, and each fetch fails; the token is refused. Tokens
// signed by the keys fetched before, new ones and ones already seen, keep
// working through the edge and the API.
func TestDrillJWKSDown(t *testing.T) {
	known := rsaKey(t)
	unknown := rsaKey(t)
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{jwk("catalog-1", known)}})
	var failing atomic.Bool
	var fetches atomic.Int64
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		if failing.Load() {
			http.Error(w, "catalog down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	defer jwks.Close()
	up, _ := countingUpstream(t)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "zectre-auth.toml")
	toml := fmt.Sprintf("upstream = %q\ndefault_auth = \"required\"\n[auth]\ncatalog_jwks_url = %q\n", up.URL, jwks.URL)
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, dir, env("ZECTRE_AUTH_CONFIG="+cfg))

	serial := 0
	token := func(kid string, key *rsa.PrivateKey) string {
		serial++ // a new token string each time: never in the verified-token cache
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"sub": "drill-jwks", "email": "drill-jwks@example.com",
			"exp": time.Now().Add(time.Hour).Unix(), "jti": fmt.Sprint(serial),
		})
		if kid != "" {
			tok.Header["kid"] = kid
		}
		raw, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	paths := []string{"/apps/1", "/api/v1/auth/verify", "/api/v1/user"}
	seen := token("catalog-1", known)
	for _, p := range paths {
		if st := proxied(t, s, p, "Authorization", "Bearer "+seen); st != 200 {
			t.Fatalf("%s with the JWKS up: %d", p, st)
		}
	}

	// Each outage is met by a token with an unknown kid, which triggers a
	// fetch (two within the burst of the unknown-kid limit).
	accepted, refused := 0, 0
	for _, outage := range []string{"answering 500", "stopped"} {
		if outage == "stopped" {
			jwks.Close()
		} else {
			failing.Store(true)
		}
		before := fetches.Load()
		st, body := s.call("GET", "/api/v1/user", "", "Authorization", "Bearer "+token("catalog-2", unknown))
		if st != 401 || errCode(body) != "INVALID_TOKEN" {
			t.Fatalf("unknown kid, JWKS %s: %d %v", outage, st, body)
		}
		refused++
		if outage == "answering 500" && fetches.Load() == before {
			t.Fatal("the unknown kid caused no fetch")
		}
		for range 5 {
			for _, p := range paths {
				for _, tok := range []string{seen, token("catalog-1", known), token("", known)} {
					if st := proxied(t, s, p, "Authorization", "Bearer "+tok); st != 200 {
						t.Fatalf("%s, JWKS %s, token of the last good key: %d", p, outage, st)
					}
					accepted++
				}
			}
		}
		// The token of the unknown kid signed by the known key's name is a
		// forgery: refused as well.
		if st := proxied(t, s, "/apps/1", "Authorization", "Bearer "+token("catalog-1", unknown)); st != 401 {
			t.Fatalf("token signed by another key under the known kid, JWKS %s: %d", outage, st)
		}
		refused++
	}
	m := scrape(t, s.admin+"/metrics")
	t.Logf("JWKS served %d fetches; refreshes: %v ok, %v failed; keys %v; %d requests with tokens of the last good key accepted, %d refused",
		fetches.Load(), m[`zectre_auth_jwks_refreshes_total{result="ok"}`], m[`zectre_auth_jwks_refreshes_total{result="error"}`],
		m["zectre_auth_jwks_keys"], accepted, refused)
	if m[`zectre_auth_jwks_refreshes_total{result="error"}`] != 2 || m["zectre_auth_jwks_keys"] != 1 {
		t.Fatalf("want 2 failed refreshes and 1 key kept: %s", dump(m, "zectre_auth_jwks"))
	}
	if n := strings.Count(s.logs(), "catalog jwks fetch failed; keeping the last good keys"); n != 2 {
		t.Fatalf("%d lines of failed fetches, want 2:\n%s", n, s.logs())
	}
	s.stop()
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// jwk is the public JWK of key for RS256 under kid.
func jwk(kid string, key *rsa.PrivateKey) map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	return map[string]string{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}
}
