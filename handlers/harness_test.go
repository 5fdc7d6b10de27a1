package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/handlers"
	zsvc "github.com/zectre/zectre-auth/service"
	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

// clock is a settable time source shared by the API and its authenticators.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// service is a running API on a real listener over a real database.
type service struct {
	t     testing.TB
	base  string
	store store.Store
	clock *clock
	api   *handlers.API
	http  *http.Client
}

// testParams keep hashing cheap in tests; the service uses DefaultPasswordParams().
var testParams = authn.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func testPolicy() authn.LimitPolicy {
	return authn.LimitPolicy{
		FailuresPerAccount: authn.Limit{N: 100, Window: time.Hour},
		FailuresPerAddress: authn.Limit{N: 1000, Window: time.Hour},
		PerAddress: map[authn.Action]authn.Limit{
			authn.ActionSignup:   {N: 1000, Window: time.Minute},
			authn.ActionInitiate: {N: 1000, Window: time.Minute},
			authn.ActionPoll:     {N: 10000, Window: time.Minute},
		},
	}
}

// stores runs fn once per store implementation.
func stores(t *testing.T, fn func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.PostgresURL(t)) })
}

func startService(t testing.TB, url string, policy authn.LimitPolicy) *service {
	t.Helper()
	return startServiceWith(t, url, policy, testParams)
}

// startServiceWith lets benchmarks pay the real hashing cost.
func startServiceWith(t testing.TB, url string, policy authn.LimitPolicy, params authn.PasswordParams) *service {
	t.Helper()
	clk := &clock{t: time.Now().UTC()}
	return serveAPI(t, newTestAPI(t, url, policy, params, clk.Now), clk)
}

// serveAPI runs api (made by newTestAPI with clk's time, then adjusted) on
// a real listener.
func serveAPI(t testing.TB, api *handlers.API, clk *clock) *service {
	t.Helper()
	st, log := api.Store, api.Log
	srv := handlers.NewServer(handlers.NewFront(api, nil, nil).Serve, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { srv.Shutdown() })
	return &service{
		t: t, base: "http://" + ln.Addr().String(), store: st, clock: clk, api: api,
		http: &http.Client{Timeout: 10 * time.Second},
	}
}

// closeDatabase closes the database under the service's identity cache: the
// store is down.
func (s *service) closeDatabase() {
	db := s.store
	if c, ok := db.(*cache.Store); ok {
		db = c.Store
	}
	db.Close()
}

// reply is a decoded response.
type reply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r reply) code() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r reply) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// do sends a request; body may be nil, a string (sent as is) or a value
// marshalled to JSON. headers are name, value pairs.
func (s *service) do(method, path string, body any, headers ...string) reply {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return s.send(req)
}

// send sends req as it is and decodes the answer.
func (s *service) send(req *http.Request) reply {
	s.t.Helper()
	method, path := req.Method, req.URL.Path
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			s.t.Fatalf("%s %s: %d non-JSON body %q", method, path, resp.StatusCode, raw)
		}
	}
	return r
}

// expect fails unless r has the status and, for errors, the code.
func expect(t testing.TB, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.code() != code {
		t.Fatalf("got %d %q, want %d %q; body %s", r.status, r.code(), status, code, r.raw)
	}
	if status >= 400 && r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("error without JSON content type: %q", r.header.Get("Content-Type"))
	}
	if status == 401 && r.header.Get("WWW-Authenticate") != `Bearer realm="zectre"` {
		t.Fatalf("401 without WWW-Authenticate: %v", r.header)
	}
}

const testPassword = "hunter2abc"

// signupLogin creates an account and returns its token.
func (s *service) signupLogin(email string) string {
	s.t.Helper()
	r := s.do("POST", "/api/v1/auth/signup", map[string]any{"email": email, "password": testPassword})
	expect(s.t, r, 201, "")
	r = s.do("POST", "/api/v1/auth/login", map[string]any{"email": email, "password": testPassword})
	expect(s.t, r, 200, "")
	return r.str("token")
}

// createKey makes an API key with the token and returns the raw key and id.
func (s *service) createKey(token string, body map[string]any) (string, string) {
	s.t.Helper()
	r := s.do("POST", "/api/v1/api-keys", body, "Authorization", "Bearer "+token)
	expect(s.t, r, 201, "")
	return r.str("key"), r.str("id")
}

// storeURLForOneStore is for tests of HTTP behaviour that does not depend on
// the store: they run on SQLite only.
func storeURLForOneStore(t testing.TB) string {
	return storetest.SQLiteURL(t)
}

// newTestAPI wires an API over a real store, as the service does, with a
// settable clock and a quiet log.
func newTestAPI(t testing.TB, url string, policy authn.LimitPolicy, params authn.PasswordParams, now func() time.Time) *handlers.API {
	t.Helper()
	return newTestService(t, url, zsvc.Options{Passwords: params, Now: now, Limits: &policy}, nil).API
}

// newTestService builds the service over the database at url as production
// does (service.New), with the options o (cheap hashing, a clock, limits of
// the test's own) and the configuration edit makes; no peer is trusted
// unless edit says so.
func newTestService(t testing.TB, url string, o zsvc.Options, edit func(*config.Config)) *zsvc.Service {
	t.Helper()
	cfg := config.Default()
	cfg.DatabaseURL = url
	cfg.JWTSecret = strings.Repeat("k", 32)
	cfg.DashboardURL = "http://dashboard.test"
	cfg.TrustedProxies = nil
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := zsvc.New(ctx, cfg, o)
	if err != nil {
		cancel()
		t.Fatalf("service: %v", err)
	}
	t.Cleanup(func() { cancel(); svc.Close() })
	return svc
}
