package service_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/identity"
	idverify "github.com/zectre/zectre-auth/identity/verify"
	"github.com/zectre/zectre-auth/service"
)

// identityService runs the service with identity assertions on, on
// loopback, in front of an upstream guarded by the verifier's middleware
// that answers the verified user id. edit adjusts the configuration.
type identityService struct {
	base     string // the service, also its public_url (the issuer)
	upstream string
	svc      *service.Service
}

func startIdentityService(t *testing.T, edit func(*config.Config)) *identityService {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	v, err := idverify.New(idverify.Options{JWKSURL: base + "/.well-known/jwks.json", Issuer: base})
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := idverify.FromContext(r.Context())
		_, _ = io.WriteString(w, id.UserID+" "+id.AuthMethod+" "+strings.Join(id.Scopes, ","))
	})))
	t.Cleanup(up.Close)

	cfg := testConfig(t)
	cfg.Listen, cfg.PublicURL, cfg.Upstream = ln.Addr().String(), base, up.URL
	cfg.DataDir = t.TempDir()
	cfg.IdentityAssertion = true
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(context.Background(), cfg, service.Options{
		Passwords: authn.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = svc.Serve(ln) }()
	t.Cleanup(func() { _ = svc.Server.Shutdown(); svc.Close() })
	return &identityService{base: base, upstream: up.URL, svc: svc}
}

func (s *identityService) do(t *testing.T, method, url, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// login signs a user up and returns its id and token.
func (s *identityService) login(t *testing.T) (id, token string) {
	t.Helper()
	cred := `{"email":"ida@example.com","password":"hunter2abc"}`
	res, body := s.do(t, "POST", s.base+"/api/v1/auth/signup", cred, nil)
	if res.StatusCode != 201 {
		t.Fatalf("signup: %d %s", res.StatusCode, body)
	}
	var user struct{ ID string }
	_ = json.Unmarshal([]byte(body), &user)
	res, body = s.do(t, "POST", s.base+"/api/v1/auth/login", cred, nil)
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(body), &tok); err != nil || res.StatusCode != 200 || tok.Token == "" {
		t.Fatalf("login: %d %s", res.StatusCode, body)
	}
	return user.ID, tok.Token
}

// An upstream behind the proxy verifies the real assertion with the
// shipped package, and never sees one a client made up.
func TestIdentityThroughTheProxy(t *testing.T) {
	s := startIdentityService(t, nil)
	id, token := s.login(t)
	bearer := "Bearer " + token
	forged := "eyJhbGciOiJFZERTQSIsImtpZCI6IngifQ.eyJzdWIiOiJhZG1pbiJ9.AAAA"
	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
		body   string
	}{
		{"identified caller", map[string]string{"Authorization": bearer}, 200, id + " jwt *"},
		{"forged header only", map[string]string{"X-Zectre-Identity": forged}, 401, "INVALID_IDENTITY"},
		{"forged header, other spelling", map[string]string{"x-ZECTRE-identity": forged}, 401, "INVALID_IDENTITY"},
		{"forged header with a real token", map[string]string{"Authorization": bearer, "X-Zectre-Identity": forged}, 200, id + " jwt *"},
		{"anonymous", nil, 401, "INVALID_IDENTITY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := s.do(t, "GET", s.base+"/app/x", "", tc.header)
			if res.StatusCode != tc.status || !strings.Contains(body, tc.body) {
				t.Fatalf("%d %q, want %d %q", res.StatusCode, body, tc.status, tc.body)
			}
		})
	}
}

// The forward-auth answer carries the assertion; it verifies against the
// running service's JWKS, is reused while fresh, and is refused once
// expired, forged or signed by a key the service does not publish.
func TestIdentityForwardAuthAnswer(t *testing.T) {
	s := startIdentityService(t, func(c *config.Config) { c.IdentityTTL = config.Duration(20 * time.Second) })
	id, token := s.login(t)
	auth := map[string]string{"Authorization": "Bearer " + token}
	res, _ := s.do(t, "GET", s.base+"/api/v1/auth/verify/app", "", auth)
	assertion := res.Header.Get(identity.Header)
	if res.StatusCode != 200 || assertion == "" {
		t.Fatalf("verify: %d, assertion %q", res.StatusCode, assertion)
	}
	res, _ = s.do(t, "GET", s.base+"/api/v1/auth/verify/app", "", auth)
	if again := res.Header.Get(identity.Header); again != assertion {
		t.Error("a fresh assertion was not reused")
	}
	anon, _ := s.do(t, "GET", s.base+"/api/v1/auth/verify/app", "", nil)
	if v, ok := anon.Header[identity.Header]; anon.StatusCode != 200 || !ok || v[0] != "" {
		t.Errorf("anonymous answer: %d %q (present %v), want an empty header", anon.StatusCode, v, ok)
	}

	stranger, err := identity.NewSigner(identity.Options{Key: genKey(t), Issuer: s.base})
	if err != nil {
		t.Fatal(err)
	}
	strangers, _ := stranger.Assertion(authn.AuthUser{ID: id, Method: authn.MethodJWT})
	later := func() time.Time { return time.Now().Add(30 * time.Second) } // past exp and leeway
	for _, tc := range []struct {
		name  string
		token string
		now   func() time.Time
		ok    bool
	}{
		{"the service's", assertion, nil, true},
		{"expired", assertion, later, false},
		{"forged", assertion[:len(assertion)-4] + "AAAA", nil, false},
		{"unknown key", string(strangers), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := idverify.New(idverify.Options{JWKSURL: s.base + "/.well-known/jwks.json", Issuer: s.base, Now: tc.now})
			got, err := v.Verify(context.Background(), tc.token)
			if (err == nil) != tc.ok {
				t.Fatalf("Verify = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && got.UserID != id {
				t.Errorf("sub = %q, want %q", got.UserID, id)
			}
		})
	}
	// The generated key is kept in data_dir.
	if _, err := os.Stat(filepath.Join(s.svc.Config.DataDir, identity.KeyFileName)); err != nil {
		t.Error(err)
	}
}

func TestIdentityJWKSRoute(t *testing.T) {
	s := startIdentityService(t, nil)
	res, body := s.do(t, "GET", s.base+"/.well-known/jwks.json", "", nil)
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "public, max-age=300" ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") || !strings.Contains(body, `"kid":"`+s.svc.Identity.KeyID()+`"`) {
		t.Fatalf("%d %v %s", res.StatusCode, res.Header, body)
	}
	// Off, the path is not the service's: it goes to the upstream.
	off := startIdentityService(t, func(c *config.Config) { c.IdentityAssertion = false })
	res, body = off.do(t, "GET", off.base+"/.well-known/jwks.json", "", nil)
	if res.StatusCode != 401 || !strings.Contains(body, "INVALID_IDENTITY") {
		t.Fatalf("assertions off: %d %s, want the upstream's 401", res.StatusCode, body)
	}
}

// Rotation: the new key signs, the previous one is published, so an
// assertion signed before the rotation still verifies.
func TestIdentityRotation(t *testing.T) {
	oldKey, newKey := genKey(t), genKey(t)
	dir := t.TempDir()
	oldFile, newFile := writeKey(t, dir, "old.pem", oldKey), writeKey(t, dir, "new.pem", newKey)
	s := startIdentityService(t, func(c *config.Config) {
		c.IdentityKeyFile, c.IdentityPreviousKeyFiles = newFile, []string{oldFile}
	})
	if s.svc.Identity.KeyID() != identity.KeyID(newKey.Public().(ed25519.PublicKey)) {
		t.Fatal("not signing with identity_key_file")
	}
	before, _ := identity.NewSigner(identity.Options{Key: oldKey, Issuer: s.base})
	old, _ := before.Assertion(authn.AuthUser{ID: "u-old", Method: authn.MethodJWT})
	_, token := s.login(t)
	res, _ := s.do(t, "GET", s.base+"/api/v1/auth/verify/app", "", map[string]string{"Authorization": "Bearer " + token})
	v, _ := idverify.New(idverify.Options{JWKSURL: s.base + "/.well-known/jwks.json", Issuer: s.base})
	for name, tok := range map[string]string{"previous key": string(old), "new key": res.Header.Get(identity.Header)} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A key file that does not load is named in the error.
func TestIdentityKeyFileRefused(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*config.Config)
		key  string
	}{
		{"signing key", func(c *config.Config) { c.IdentityKeyFile = bad }, "identity_key_file"},
		{"previous key", func(c *config.Config) { c.IdentityPreviousKeyFiles = []string{bad} }, "identity_previous_key_files[0]"},
		{"missing file", func(c *config.Config) { c.IdentityKeyFile = bad + ".none" }, "identity_key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.DataDir, cfg.IdentityAssertion = t.TempDir(), true
			tc.edit(&cfg)
			svc, err := service.New(context.Background(), cfg, service.Options{})
			se, ok := err.(*service.SettingError)
			if !ok || se.Key != tc.key || svc != nil {
				t.Fatalf("New = %v; want a SettingError of %s", err, tc.key)
			}
		})
	}
}

func genKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeKey(t *testing.T, dir, name string, k ed25519.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
