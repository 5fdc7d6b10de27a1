package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/zectre/zectre-auth/handlers"
)

// environment is every server of a load run.
type environment struct {
	o       options
	dir     string
	closers []func()

	bare, upstream, jwks, auth, nginx string // base URLs ("" when absent)
	bareServed                        string // the bare handler on zectre-auth's server settings
	admin                             string // zectre-auth's admin listener
	authPID, nginxPID                 int
	key, token, catalogToken, email   string
}

const (
	catalogIssuer   = "https://catalog.loadtest.invalid"
	catalogAudience = "zectre"
	catalogKID      = "loadtest-1"
)

func newEnvironment(o options) (*environment, error) {
	dir, err := os.MkdirTemp("", "zectre-loadtest")
	if err != nil {
		return nil, err
	}
	e := &environment{o: o, dir: dir}
	e.closers = append(e.closers, func() { os.RemoveAll(dir) })
	if err := e.start(); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *environment) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

func (e *environment) start() error {
	var err error
	// The bare handler answers like a successful forward-auth: 200, empty body.
	if e.bare, err = e.serveFast(func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(fasthttp.StatusOK) }); err != nil {
		return err
	}
	// The same handler on the server zectre-auth builds (timeouts, buffer
	// sizes, body streaming): what those settings cost, without any auth.
	bareSrv := handlers.NewServer(func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(fasthttp.StatusOK) }, slog.New(slog.DiscardHandler))
	if e.bareServed, err = e.serveWith(bareSrv); err != nil {
		return err
	}
	if e.upstream, err = e.serveFast(func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("upstream ok\n") }); err != nil {
		return err
	}
	signer, err := e.serveJWKS()
	if err != nil {
		return err
	}
	if err := e.startAuth(); err != nil {
		return err
	}
	if err := e.account(); err != nil {
		return err
	}
	if e.catalogToken, err = signer(); err != nil {
		return err
	}
	if _, err := exec.LookPath("nginx"); err == nil {
		if err := e.startNginx(); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(os.Stderr, "nginx not installed: the nginx baseline is skipped")
	}
	return nil
}

func (e *environment) scenarios() []scenario {
	verify := e.auth + "/api/v1/auth/verify"
	self := os.Getpid() // the bare handler and the upstream run in this process
	s := []scenario{
		{name: "bare", title: "bare fasthttp handler", url: e.bare + "/api/v1/auth/verify", pid: self},
		{name: "bare-served", title: "bare handler, zectre-auth's server settings", url: e.bareServed + "/api/v1/auth/verify", pid: self},
		{name: "verify-key", title: "forward-auth, cached API key", url: verify, headers: []string{"X-API-Key: " + e.key}},
		{name: "verify-hs256", title: "forward-auth, HS256 token", url: verify, headers: []string{"Authorization: Bearer " + e.token}},
		{name: "verify-rs256", title: "forward-auth, catalog RS256 token", url: verify, headers: []string{"Authorization: Bearer " + e.catalogToken}},
		{name: "upstream", title: "upstream direct", url: e.upstream + "/apps/1", pid: self},
		{name: "proxy-key", title: "proxy mode, API key", url: e.auth + "/apps/1", headers: []string{"X-API-Key: " + e.key}},
	}
	for i := range s {
		if s[i].pid == 0 {
			s[i].pid, s[i].profiled = e.authPID, true
		}
	}
	if e.nginx != "" {
		s = append(s, scenario{name: "nginx", title: "nginx reverse proxy (no auth)", url: e.nginx + "/apps/1", pid: e.nginxPID})
	}
	return s
}

func (e *environment) cacheName() string {
	if e.o.redis != "" {
		return "Redis"
	}
	return "in-process"
}

// databaseURL is zectre-auth's database: -database, or the embedded
// default in its data dir.
func (e *environment) databaseURL() string {
	if e.o.database != "" {
		return e.o.database
	}
	return "sqlite://" + filepath.Join(e.dir, "data", "zectre-auth.db")
}

func (e *environment) databaseName() string {
	if e.o.database != "" {
		return "PostgreSQL"
	}
	return "SQLite"
}

func (e *environment) serveFast(h fasthttp.RequestHandler) (string, error) {
	return e.serveWith(&fasthttp.Server{Handler: h, NoDefaultServerHeader: true})
}

// serveWith runs srv on a loopback port in this process.
func (e *environment) serveWith(srv *fasthttp.Server) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go srv.Serve(ln)
	e.closers = append(e.closers, func() { srv.Shutdown() })
	return "http://" + ln.Addr().String(), nil
}

// serveJWKS serves one RSA key as a JWKS and returns a signer of catalog
// tokens under it.
func (e *environment) serveJWKS() (func() (string, error), error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": catalogKID, "use": "sig", "alg": "RS256",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	})}
	go srv.Serve(ln)
	e.closers = append(e.closers, func() { srv.Close() })
	e.jwks = "http://" + ln.Addr().String() + "/.well-known/jwks.json"
	return func() (string, error) {
		t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": catalogIssuer, "aud": catalogAudience, "sub": "loadtest-catalog-user",
			"email": "catalog-load@example.com", "exp": time.Now().Add(2 * time.Hour).Unix(),
			"iat": time.Now().Unix(),
		})
		t.Header["kid"] = catalogKID
		return t.SignedString(key)
	}, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startAuth runs zectre-auth with the upstream, the JWKS and every request
// outside the authentication API required to authenticate.
func (e *environment) startAuth() error {
	listen, err := freeAddr()
	if err != nil {
		return err
	}
	admin, err := freeAddr()
	if err != nil {
		return err
	}
	cfg := filepath.Join(e.dir, "zectre-auth.toml")
	toml := fmt.Sprintf("default_auth = \"required\"\nupstream = %q\nadmin_pprof = %t\n[auth]\ncatalog_jwks_url = %q\njwt_expected_iss = %q\njwt_expected_aud = %q\n",
		e.upstream, e.o.profile != "", e.jwks, catalogIssuer, catalogAudience)
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(e.dir, "zectre-auth.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(e.o.binary, "serve", "--config", cfg)
	cmd.Env = append(os.Environ(),
		"ZECTRE_AUTH_LISTEN="+listen, "ZECTRE_AUTH_ADMIN_LISTEN="+admin,
		"ZECTRE_AUTH_DATA_DIR="+filepath.Join(e.dir, "data"))
	if e.o.redis != "" {
		cmd.Env = append(cmd.Env, "ZECTRE_AUTH_REDIS_URL="+e.o.redis)
	}
	if e.o.database != "" {
		cmd.Env = append(cmd.Env, "ZECTRE_AUTH_DATABASE_URL="+e.o.database,
			"ZECTRE_AUTH_JWT_SECRET=loadtest-secret-loadtest-secret-loadtest")
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", e.o.binary, err)
	}
	e.closers = append(e.closers, func() { cmd.Process.Kill(); cmd.Wait(); logFile.Close() })
	e.authPID = cmd.Process.Pid
	e.auth, e.admin = "http://"+listen, "http://"+admin
	return waitHTTP(e.auth+"/healthz", logFile.Name())
}

func waitHTTP(url, logName string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	raw, _ := os.ReadFile(logName)
	return fmt.Errorf("%s did not answer:\n%s", url, raw)
}

// account creates a user, a token and an API key, and warms every credential.
func (e *environment) account() error {
	email := fmt.Sprintf("load-%d@example.com", time.Now().UnixNano())
	e.email = email
	body := fmt.Sprintf(`{"email":%q,"password":"loadtest-password"}`, email)
	if _, err := call("POST", e.auth+"/api/v1/auth/signup", body, "", 201); err != nil {
		return err
	}
	out, err := call("POST", e.auth+"/api/v1/auth/login", body, "", 200)
	if err != nil {
		return err
	}
	e.token = out["token"].(string)
	out, err = call("POST", e.auth+"/api/v1/api-keys", `{"name":"loadtest"}`, e.token, 201)
	if err != nil {
		return err
	}
	e.key = out["key"].(string)
	return nil
}

func call(method, url, body, token string, want int) (map[string]any, error) {
	req, _ := http.NewRequest(method, url, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	var out map[string]any
	err = json.Unmarshal(raw, &out)
	return out, err
}

// startNginx runs nginx as a plain keep-alive reverse proxy to the upstream:
// the baseline for proxy mode.
func (e *environment) startNginx() error {
	listen, err := freeAddr()
	if err != nil {
		return err
	}
	dir := filepath.Join(e.dir, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(`
%[1]s
worker_processes auto;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    upstream up { server %[3]s; keepalive 128; }
    server {
        listen %[4]s;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, user, dir, stripScheme(e.upstream), listen)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("nginx", "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	e.closers = append(e.closers, func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	e.nginx, e.nginxPID = "http://"+listen, cmd.Process.Pid
	return waitHTTP(e.nginx+"/", filepath.Join(dir, "error.log"))
}

func stripScheme(u string) string {
	if i := bytes.Index([]byte(u), []byte("://")); i >= 0 {
		return u[i+3:]
	}
	return u
}

// profile records a CPU profile of zectre-auth for most of d, starting now,
// into <-profile dir>/<name>.pprof (read it with go tool pprof).
func (e *environment) profile(name string, d time.Duration) <-chan error {
	done := make(chan error, 1)
	secs := max(int(d.Seconds())-1, 1)
	go func() { done <- e.fetch(fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), name+".pprof") }()
	return done
}

// fetch saves what zectre-auth's admin listener answers at path into the
// -profile dir.
func (e *environment) fetch(path, file string) error {
	resp, err := http.Get(e.admin + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	if err := os.MkdirAll(e.o.profile, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(e.o.profile, file))
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
