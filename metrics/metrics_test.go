package metrics_test

import (
	"fmt"
	"testing"

	"github.com/zectre/zectre-auth/authn"
)

// The metrics scraped over HTTP show the traffic that went through the
// service: requests by route class and status, auth outcomes by method,
// cache tiers, upstream results, the JWKS, and the build.
func TestScrapeShowsTraffic(t *testing.T) {
	s := startService(t)
	expect := func(status, want int, what string) {
		t.Helper()
		if status != want {
			t.Fatalf("%s: status %d, want %d", what, status, want)
		}
	}

	st, _ := s.do("POST", "/api/v1/auth/signup", `{"email":"ann@example.com","password":"correct horse"}`)
	expect(st, 201, "signup")
	st, body := s.do("POST", "/api/v1/auth/login", `{"email":"ann@example.com","password":"correct horse"}`)
	expect(st, 200, "login")
	token, _ := body["token"].(string)
	st, _ = s.do("POST", "/api/v1/auth/login", `{"email":"ann@example.com","password":"wrong horse"}`)
	expect(st, 401, "login with a wrong password")
	bearer := []string{"Authorization", "Bearer " + token}
	st, _ = s.do("GET", "/api/v1/user", "", bearer...)
	expect(st, 200, "user by token")
	st, body = s.do("POST", "/api/v1/api-keys", `{"name":"ci"}`, bearer...)
	expect(st, 201, "create key")
	key, _ := body["key"].(string)
	st, _ = s.do("GET", "/api/v1/user", "", "Authorization", "Bearer "+s.catalogToken("cat-1"))
	expect(st, 200, "user by catalog token")
	st, _ = s.do("GET", "/api/v1/user", "", "Authorization", "Bearer not-a-token")
	expect(st, 401, "user by a malformed token")

	for range 2 {
		st, _ = s.do("GET", "/app/items", "", "X-API-Key", key)
		expect(st, 200, "edge with a key")
	}
	unknown, err := authn.GenerateKey() // well-formed, never stored
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		st, _ = s.do("GET", "/app/items", "", "X-API-Key", unknown.Raw)
		expect(st, 401, "edge with an unknown key")
	}
	st, _ = s.do("GET", "/dead/x", "", bearer...)
	expect(st, 502, "edge to a refusing upstream")
	st, _ = s.do("GET", "/slow/x", "")
	expect(st, 504, "edge to a stalled upstream")
	st, _ = s.do("GET", "/api/v1/auth/verify", "", bearer...)
	expect(st, 200, "forward-auth")
	st, _ = s.do("GET", "/healthz", "")
	expect(st, 200, "healthz")
	st, _ = s.do("GET", "/a/%2F/b", "")
	expect(st, 400, "a path that cannot be normalised")

	f := s.scrape()
	check := func(want float64, name string, kv ...string) {
		t.Helper()
		if got := f.value(name, kv...); got != want {
			t.Errorf("%s%v = %v, want %v", name, kv, got, want)
		}
	}
	atLeast := func(want float64, name string, kv ...string) {
		t.Helper()
		if got := f.value(name, kv...); got < want {
			t.Errorf("%s%v = %v, want at least %v", name, kv, got, want)
		}
	}

	const requests, durations = "zectre_auth_http_requests_total", "zectre_auth_http_request_duration_seconds"
	for _, r := range []struct {
		route string
		codes map[int]float64
	}{
		{"auth_api", map[int]float64{200: 3, 201: 2, 401: 2}},
		{"edge_proxy", map[int]float64{200: 2, 401: 2, 502: 1, 504: 1}},
		{"forward_auth", map[int]float64{200: 1}},
		{"health", map[int]float64{200: 1}},
		{"other", map[int]float64{400: 1}},
	} {
		total := 0.0
		for code, n := range r.codes {
			check(n, requests, "route", r.route, "code", fmt.Sprint(code))
			total += n
		}
		check(total, durations, "route", r.route)
	}
	if n := len(f[requests].GetMetric()); n != 10 {
		t.Errorf("%s has %d series, want the 10 above", requests, n)
	}

	const attempts = "zectre_auth_auth_attempts_total"
	check(1, attempts, "method", "password", "outcome", "ok")
	check(1, attempts, "method", "password", "outcome", "denied")
	check(4, attempts, "method", "jwt", "outcome", "ok") // user, create key, edge, forward-auth
	check(1, attempts, "method", "catalog_jwt", "outcome", "ok")
	check(1, attempts, "method", "bearer", "outcome", "denied")
	check(2, attempts, "method", "api_key", "outcome", "ok")
	check(2, attempts, "method", "api_key", "outcome", "denied")

	const lookups = "zectre_auth_cache_lookups_total"
	check(2, lookups, "kind", "key", "tier", "front", "result", "miss") // the key's first use, the unknown key's
	check(1, lookups, "kind", "key", "tier", "store", "result", "hit")
	check(1, lookups, "kind", "key", "tier", "front", "result", "hit")
	check(1, lookups, "kind", "key", "tier", "store", "result", "miss")
	check(1, lookups, "kind", "key", "tier", "front", "result", "negative_hit")
	atLeast(1, lookups, "kind", "user", "tier", "front", "result", "hit")
	atLeast(1, lookups, "kind", "user", "tier", "store", "result", "hit")
	check(-1, lookups, "tier", "redis") // no Redis configured
	check(-1, "zectre_auth_redis_up")
	check(0, "zectre_auth_redis_errors_total")
	check(-1, "zectre_auth_store_errors_total")

	const upstream = "zectre_auth_upstream_request_duration_seconds"
	check(2, upstream, "upstream", s.upstream, "result", "ok")
	check(1, upstream, "upstream", s.dead, "result", "error")
	check(1, upstream, "upstream", s.slow, "result", "timeout")
	if m := f.find(upstream, "upstream", s.slow, "result", "timeout"); m != nil && m.Histogram.GetSampleSum() < 0.3 {
		t.Errorf("the stalled exchange took %vs, want at least the 0.3s timeout", m.Histogram.GetSampleSum())
	}

	check(1, "zectre_auth_jwks_refreshes_total", "result", "ok")
	check(-1, "zectre_auth_jwks_refreshes_total", "result", "error")
	check(1, "zectre_auth_jwks_keys")
	check(0, "zectre_auth_audit_lines_dropped_total")
	check(1, "zectre_auth_build_info", "version", "test-version")
	atLeast(1, "go_goroutines")
	atLeast(1, "process_start_time_seconds")
}
