package metrics_test

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/audit"
	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/metrics"
)

func serveMetrics(t *testing.T, m *metrics.Metrics) string {
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Redis state and errors, store errors: what an outage looks like.
func TestCacheObserverOutage(t *testing.T) {
	m := metrics.New("v")
	url := serveMetrics(t, m)
	o := m.Cache()
	if f := scrapeURL(t, url); f.value("zectre_auth_redis_up") != -1 {
		t.Fatal("redis_up exported before Redis was seen")
	}
	o.RedisUp(true)
	o.Lookup(cache.KindUser, cache.TierRedis, cache.NegativeHit)
	if f := scrapeURL(t, url); f.value("zectre_auth_redis_up") != 1 ||
		f.value("zectre_auth_cache_lookups_total", "kind", "user", "tier", "redis", "result", "negative_hit") != 1 {
		t.Fatal("redis_up or the Redis lookup missing once Redis is up")
	}
	o.RedisUp(false)
	o.RedisError()
	o.RedisError()
	o.StoreError(cache.KindKey)
	f := scrapeURL(t, url)
	for _, c := range []struct {
		name string
		kv   []string
		want float64
	}{
		{"zectre_auth_redis_up", nil, 0},
		{"zectre_auth_redis_errors_total", nil, 2},
		{"zectre_auth_store_errors_total", []string{"kind", "key"}, 1},
		{"zectre_auth_store_errors_total", []string{"kind", "user"}, -1},
	} {
		if got := f.value(c.name, c.kv...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.kv, got, c.want)
		}
	}
}

// Attempts of a method or outcome the metrics do not know are counted as
// "other"; dropped audit lines are exported.
func TestAuditObserverLabels(t *testing.T) {
	m := metrics.New("v")
	url := serveMetrics(t, m)
	a := audit.New(discard{}, nil)
	t.Cleanup(func() { a.Close() })
	m.ObserveAudit(a)
	a.Attempt(audit.Attempt{Method: "cli", Outcome: "disabled"})
	a.Attempt(audit.Attempt{Method: "smoke-signal", Outcome: "ok"})
	a.Attempt(audit.Attempt{Method: "api_key", Outcome: "puzzled"})
	f := scrapeURL(t, url)
	const name = "zectre_auth_auth_attempts_total"
	for _, kv := range [][]string{
		{"method", "cli", "outcome", "disabled"},
		{"method", "other", "outcome", "ok"},
		{"method", "api_key", "outcome", "other"},
	} {
		if got := f.value(name, kv...); got != 1 {
			t.Errorf("%s%v = %v, want 1", name, kv, got)
		}
	}
	if got := f.value("zectre_auth_audit_lines_dropped_total"); got != 0 {
		t.Errorf("audit_lines_dropped_total = %v, want 0", got)
	}
}

// A failed JWKS fetch counts as an error and leaves the key count alone.
func TestJWKSRefreshed(t *testing.T) {
	m := metrics.New("v")
	url := serveMetrics(t, m)
	m.JWKSRefreshed(0, errors.New("catalog down"))
	if f := scrapeURL(t, url); f.value("zectre_auth_jwks_keys") != -1 ||
		f.value("zectre_auth_jwks_refreshes_total", "result", "error") != 1 {
		t.Fatal("after a failed first fetch: want one error and no key count")
	}
	m.JWKSRefreshed(3, nil)
	m.JWKSRefreshed(0, errors.New("catalog down again"))
	f := scrapeURL(t, url)
	if f.value("zectre_auth_jwks_keys") != 3 || f.value("zectre_auth_jwks_refreshes_total", "result", "ok") != 1 ||
		f.value("zectre_auth_jwks_refreshes_total", "result", "error") != 2 {
		t.Fatal("want 3 keys kept through the failure, 1 ok and 2 errors")
	}
}

// A refused certificate pair counts as an error and leaves the expiry of
// the pair still served.
func TestTLSLoaded(t *testing.T) {
	m := metrics.New("v")
	url := serveMetrics(t, m)
	if f := scrapeURL(t, url); f.value("zectre_auth_tls_certificate_expiry_timestamp_seconds") != -1 {
		t.Fatal("an expiry without TLS")
	}
	notAfter := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	m.TLSLoaded(notAfter, nil)
	m.TLSLoaded(time.Time{}, errors.New("key does not match"))
	f := scrapeURL(t, url)
	if f.value("zectre_auth_tls_certificate_expiry_timestamp_seconds") != float64(notAfter.Unix()) ||
		f.value("zectre_auth_tls_certificate_loads_total", "result", "ok") != 1 ||
		f.value("zectre_auth_tls_certificate_loads_total", "result", "error") != 1 {
		t.Fatal("want the first expiry kept through the failure, 1 ok and 1 error")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
