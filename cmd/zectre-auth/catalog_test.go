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
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestCatalogTokens runs the binary against a real JWKS served over HTTP: a
// catalog token identifies a user, that user can create API keys, and its
// keys resolve to the same user id as its tokens.
func TestCatalogTokens(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "catalog-1", "use": "sig", "alg": "RS256",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	defer jwks.Close()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "zectre-auth.toml")
	toml := fmt.Sprintf("[auth]\ncatalog_jwks_url = %q\njwt_expected_iss = \"https://catalog.test\"\njwt_expected_aud = \"zectre\"\n", jwks.URL)
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, dir, env("ZECTRE_AUTH_CONFIG="+cfg))

	sign := func(claims jwt.MapClaims, method jwt.SigningMethod, signKey any) string {
		tok := jwt.NewWithClaims(method, claims)
		tok.Header["kid"] = "catalog-1"
		raw, err := tok.SignedString(signKey)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "https://catalog.test", "aud": "zectre", "sub": "cat-42",
			"email": "Cat@Example.com", "exp": time.Now().Add(time.Hour).Unix()}
	}
	token := sign(claims(), jwt.SigningMethodRS256, key)

	st, me := s.call("GET", "/api/v1/user", "", "Authorization", "Bearer "+token)
	if st != 200 || me["email"] != "cat@example.com" {
		t.Fatalf("catalog user: %d %v", st, me)
	}
	st, created := s.call("POST", "/api/v1/api-keys", `{"name":"from catalog"}`, "Authorization", "Bearer "+token)
	if st != 201 {
		t.Fatalf("create key with a catalog token: %d %v", st, created)
	}
	st, viaKey := s.call("GET", "/api/v1/user", "", "X-API-Key", created["key"].(string))
	if st != 200 || viaKey["id"] != me["id"] {
		t.Fatalf("the key resolves to %v, the token to %v", viaKey["id"], me["id"])
	}
	// A second token of the same subject is the same user.
	again := claims()
	again["exp"] = time.Now().Add(2 * time.Hour).Unix()
	if _, b := s.call("GET", "/api/v1/user", "", "Authorization", "Bearer "+sign(again, jwt.SigningMethodRS256, key)); b["id"] != me["id"] {
		t.Fatalf("same subject, other user: %v", b)
	}

	// Refused: wrong audience, HS256 signed with the public key (algorithm
	// confusion), and a token of a subject whose email is a local account's.
	bad := claims()
	bad["aud"] = "other"
	if st, b := s.call("GET", "/api/v1/user", "", "Authorization", "Bearer "+sign(bad, jwt.SigningMethodRS256, key)); st != 401 || errCode(b) != "INVALID_TOKEN" {
		t.Fatalf("wrong audience: %d %v", st, b)
	}
	pub, _ := json.Marshal(key.PublicKey)
	if st, _ := s.call("GET", "/api/v1/user", "", "Authorization", "Bearer "+sign(claims(), jwt.SigningMethodHS256, pub)); st != 401 {
		t.Fatalf("HS256 with the public key as secret: %d", st)
	}
	s.account("local@example.com")
	taken := claims()
	taken["sub"], taken["email"] = "cat-43", "local@example.com"
	if st, b := s.call("GET", "/api/v1/user", "", "Authorization", "Bearer "+sign(taken, jwt.SigningMethodRS256, key)); st != 409 || errCode(b) != "EMAIL_EXISTS" {
		t.Fatalf("catalog subject with a local account's email: %d %v", st, b)
	}
	s.stop()
}

func errCode(b map[string]any) string {
	e, _ := b["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}
