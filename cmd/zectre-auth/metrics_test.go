package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestMetricsShowTraffic drives each part of the service (the API, the
// edge forwarding, forward-auth, health) and reads the traffic back from
// /metrics on the admin listener, which the main listener never serves.
func TestMetricsShowTraffic(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	defer up.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "zectre-auth.toml")
	toml := fmt.Sprintf("upstream = %q\ndefault_auth = \"required\"\n", up.URL)
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, dir, env("ZECTRE_AUTH_CONFIG="+cfg))

	_, key := s.account("metrics@example.com") // signup, login, key: three API calls
	if st, _ := s.call("POST", "/api/v1/auth/login", `{"email":"metrics@example.com","password":"wrong-password"}`); st != 401 {
		t.Fatalf("wrong password: %d", st)
	}
	for range 3 {
		if st := proxied(t, s, "/apps/1", "X-API-Key", key); st != 200 {
			t.Fatalf("proxied with a key: %d", st)
		}
	}
	if st := proxied(t, s, "/apps/1"); st != 401 {
		t.Fatalf("proxied without a credential: %d", st)
	}
	if st := proxied(t, s, "/api/v1/auth/verify", "X-API-Key", key); st != 200 {
		t.Fatalf("forward-auth: %d", st)
	}
	if st := proxied(t, s, "/healthz"); st != 200 {
		t.Fatalf("healthz: %d", st)
	}
	if st := proxied(t, s, "/metrics"); st == 200 {
		t.Fatal("the main listener serves /metrics")
	}

	m := scrape(t, s.admin+"/metrics")
	for _, want := range []struct {
		series string
		min    float64
	}{
		{`zectre_auth_http_requests_total{code="201",route="auth_api"}`, 2}, // signup, key
		{`zectre_auth_http_requests_total{code="200",route="auth_api"}`, 1}, // login
		{`zectre_auth_http_requests_total{code="401",route="auth_api"}`, 1}, // wrong password
		{`zectre_auth_http_requests_total{code="200",route="edge_proxy"}`, 3},
		{`zectre_auth_http_requests_total{code="401",route="edge_proxy"}`, 1},
		{`zectre_auth_http_requests_total{code="200",route="forward_auth"}`, 1},
		{`zectre_auth_http_requests_total{code="200",route="health"}`, 1},
		{`zectre_auth_http_request_duration_seconds_count{route="edge_proxy"}`, 4},
		{`zectre_auth_auth_attempts_total{method="password",outcome="ok"}`, 1},
		{`zectre_auth_auth_attempts_total{method="password",outcome="denied"}`, 1},
		{`zectre_auth_auth_attempts_total{method="api_key",outcome="ok"}`, 4},
		{`zectre_auth_auth_attempts_total{method="jwt",outcome="ok"}`, 1}, // creating the key
		{`zectre_auth_cache_lookups_total{kind="key",result="hit",tier="front"}`, 1},
		{`zectre_auth_upstream_request_duration_seconds_count{result="ok",upstream="` + strings.TrimPrefix(up.URL, "http://") + `"}`, 3},
		{`zectre_auth_build_info{go_version="` + goVersion(m) + `",version="dev"}`, 1},
	} {
		got, ok := m[want.series]
		if !ok || got < want.min {
			t.Errorf("%s = %v (present %v), want at least %v", want.series, got, ok, want.min)
		}
	}
	if _, ok := m["process_resident_memory_bytes"]; !ok {
		t.Error("no process metrics")
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", dump(m, "zectre_auth_"))
	}
}

// scrape reads the text exposition format into series → value, a series
// written as Prometheus writes it (labels sorted by name).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		k := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[k+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:k]] = v
	}
	return out
}

// goVersion is the go_version label of build_info, whatever Go built the
// binary.
func goVersion(m map[string]float64) string {
	for s := range m {
		if rest, ok := strings.CutPrefix(s, `zectre_auth_build_info{go_version="`); ok {
			v, _, _ := strings.Cut(rest, `"`)
			return v
		}
	}
	return "?"
}

func dump(m map[string]float64, prefix string) string {
	var b strings.Builder
	for s, v := range m {
		if strings.HasPrefix(s, prefix) {
			fmt.Fprintf(&b, "%s %v\n", s, v)
		}
	}
	return b.String()
}
