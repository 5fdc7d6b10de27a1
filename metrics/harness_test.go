package metrics_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zectre/zectre-auth/audit"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/handlers"
	"github.com/zectre/zectre-auth/metrics"
	"github.com/zectre/zectre-auth/proxy"
	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

// service is zectre-auth assembled as serve wires it, with every observer
// set, on real listeners: the main one (fasthttp) and an admin one serving
// the metrics (net/http), over a real SQLite store, in front of real
// upstreams, with a real JWKS endpoint.
type service struct {
	t        *testing.T
	base     string // the main listener
	admin    string // the metrics listener
	upstream string // host:port of the default upstream
	dead     string // host:port of an upstream that refuses connections
	slow     string // host:port of an upstream that never answers
	catalog  *ecdsa.PrivateKey
}

const catalogKID = "catalog-1"

func startService(t *testing.T) *service {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.New("test-version")

	db, err := store.Open(ctx, storetest.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// A long fallback life keeps the front tier's answers independent of
	// how fast the test runs.
	st, err := cache.Open(ctx, db, cache.Options{Observer: m.Cache(), FallbackTTL: time.Minute, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	s := &service{t: t}
	jwksURL := s.startCatalog()
	tokens, err := authn.NewTokens([]byte(strings.Repeat("s", 32)), authn.DefaultTokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	passwords, err := authn.NewPasswords(authn.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 4)
	if err != nil {
		t.Fatal(err)
	}
	verified := authn.NewTokenCache(authn.DefaultTokenCacheSize)
	catalog, err := authn.NewCatalogAuthenticator(ctx, authn.CatalogOptions{
		JWKSURL: jwksURL, Users: st, Cache: verified, Logger: log, OnRefresh: m.JWKSRefreshed,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { catalog.Close() })
	auditLog := audit.New(io.Discard, handlers.ErrorCode)
	t.Cleanup(func() { auditLog.Close() })
	m.ObserveAudit(auditLog)

	api := &handlers.API{
		Store:     st,
		Passwords: passwords,
		Tokens:    tokens,
		Limits: &authn.Limits{Counter: st.Counter(), Policy: authn.LimitPolicy{
			FailuresPerAccount: authn.Limit{N: 100, Window: time.Hour},
			FailuresPerAddress: authn.Limit{N: 100, Window: time.Hour},
		}},
		Resolver: authn.NewResolver(
			verified.Authenticator(st),
			catalog,
			authn.TokenAuthenticator{Tokens: tokens, Users: st, Cache: verified},
			authn.KeyAuthenticator{Keys: st},
		),
		AuthURLBase: "http://127.0.0.1",
		Log:         log,
		Audit:       auditLog,
	}
	good := s.startUpstreams()
	edge, err := proxy.New(proxy.Options{
		Routes: []config.Route{
			{Path: "/dead/**", Auth: config.AuthOptional, Upstream: "http://" + s.dead},
			{Path: "/slow/**", Auth: config.AuthPublic, Upstream: "http://" + s.slow},
		},
		Upstream: good, DefaultAuth: config.AuthOptional, Resolver: api.Resolver, Audit: auditLog,
		Timeout: 300 * time.Millisecond, Observer: m.Proxy(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(edge.Close)

	srv := handlers.NewServer(m.Instrument(handlers.NewHandler(api, edge), metrics.Classifier(false)), log)
	s.base = "http://" + serveOn(t, srv.Serve)
	t.Cleanup(func() { srv.Shutdown() })

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m)
	admin := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.admin = "http://" + serveOn(t, admin.Serve)
	t.Cleanup(func() { admin.Close() })
	return s
}

// serveOn runs serve on a fresh loopback listener and returns its address.
func serveOn(t *testing.T, serve func(net.Listener) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go serve(ln)
	return ln.Addr().String()
}

// startUpstreams starts the default upstream (returned as a URL), one that
// hangs until the proxy gives up, and an address that refuses connections.
func (s *service) startUpstreams() string {
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream ok")
	}))
	s.t.Cleanup(good.Close)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	s.t.Cleanup(slow.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	s.dead = ln.Addr().String()
	ln.Close()
	s.upstream = strings.TrimPrefix(good.URL, "http://")
	s.slow = strings.TrimPrefix(slow.URL, "http://")
	return good.URL
}

// startCatalog serves a JWKS with one ES256 key and returns its URL.
func (s *service) startCatalog() string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	s.catalog = key
	j, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
		KID: catalogKID, USE: jwkset.UseSig, ALG: jwkset.AlgES256,
	}})
	if err != nil {
		s.t.Fatal(err)
	}
	body, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{j.Marshal()}})
	if err != nil {
		s.t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	s.t.Cleanup(srv.Close)
	return srv.URL
}

// catalogToken is a token of the catalog for a new subject.
func (s *service) catalogToken(sub string) string {
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"sub": sub, "email": sub + "@catalog.example", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = catalogKID
	signed, err := tok.SignedString(s.catalog)
	if err != nil {
		s.t.Fatal(err)
	}
	return signed
}

// do sends a request to the main listener and returns the status and the
// decoded JSON body (nil when it is not JSON).
func (s *service) do(method, path, body string, header ...string) (int, map[string]any) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// scrape fetches the metrics over HTTP, as Prometheus does, and parses them.
func (s *service) scrape() families {
	s.t.Helper()
	return scrapeURL(s.t, s.admin+"/metrics")
}

func scrapeURL(t *testing.T, url string) families {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the exposition: %v", err)
	}
	return families(fams)
}

// families are parsed metrics by name.
type families map[string]*dto.MetricFamily

// find returns the series of name whose labels include every pair of kv,
// or nil.
func (f families) find(name string, kv ...string) *dto.Metric {
	fam := f[name]
	if fam == nil {
		return nil
	}
series:
	for _, m := range fam.Metric {
		for i := 0; i+1 < len(kv); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == kv[i] && l.GetValue() == kv[i+1] {
					found = true
				}
			}
			if !found {
				continue series
			}
		}
		return m
	}
	return nil
}

// value is the value of a counter or gauge series, -1 when it is absent,
// and the sample count of a histogram.
func (f families) value(name string, kv ...string) float64 {
	m := f.find(name, kv...)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return -1
}
