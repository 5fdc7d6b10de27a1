package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/cache/cachetest"
	"github.com/zectre/zectre-auth/store/storetest"
)

// TestDrillPostgresStopped stops the PostgreSQL server (a throwaway one,
// fast shutdown) under a running replica with Redis: cached credentials keep
// working under load, writes and uncached credentials answer 503
// SERVICE_UNAVAILABLE with the JSON error body, /readyz answers 503; once
// the server is back the same process is ready again and writes work.
func TestDrillPostgresStopped(t *testing.T) {
	dbURL, stopPostgres, restartPostgres := storetest.StartPostgres(t)
	up, _ := countingUpstream(t)
	environ, dir := replicaEnvDB(t, dbURL, cachetest.RedisURL(t), up.URL)
	s := start(t, dir, environ)
	token, key := s.account("drill-pg@example.com")
	bearer := "Bearer " + token
	creds := [][]string{{"X-API-Key", key}, {"Authorization", bearer}}
	paths := []string{"/apps/1", "/api/v1/auth/verify", "/api/v1/user"}
	for _, c := range creds {
		for _, p := range paths {
			if st := proxied(t, s, p, c...); st != 200 {
				t.Fatalf("warm-up of %s: %d", p, st)
			}
		}
	}
	var targets []loadTarget
	for _, p := range paths {
		targets = append(targets, loadTarget{p, s.base + p, creds})
	}
	l := startLoad(t, targets...)
	l.waitSent(0, 100, 0, 30*time.Second)

	down := l.next()
	stopPostgres()
	// Longer than the 1 s life entries would have without Redis: these were
	// read through Redis and live 10 minutes in the process.
	l.waitSent(down, 300, 2*time.Second, 30*time.Second)

	// What needs the database answers 503 with the error body.
	unknown, err := authn.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	unavailable := []struct {
		what, method, path, body string
		headers                  []string
	}{
		{"signup", "POST", "/api/v1/auth/signup", `{"email":"drill-pg-2@example.com","password":"hunter2abc"}`, nil},
		{"login", "POST", "/api/v1/auth/login", `{"email":"drill-pg@example.com","password":"hunter2abc"}`, nil},
		{"key creation", "POST", "/api/v1/api-keys", `{"name":"during the outage"}`, []string{"Authorization", bearer}},
		{"key list", "GET", "/api/v1/api-keys", "", []string{"Authorization", bearer}},
		{"uncached key, proxy mode", "GET", "/apps/1", "", []string{"X-API-Key", unknown.Raw}},
		{"uncached key, forward-auth", "GET", "/api/v1/auth/verify", "", []string{"X-API-Key", unknown.Raw}},
		{"/readyz", "GET", "/readyz", "", nil},
	}
	for _, u := range unavailable {
		st, ctype, body := s.raw(u.method, u.path, u.body, u.headers...)
		if st != 503 || !strings.HasPrefix(ctype, "application/json") ||
			!strings.HasPrefix(body, `{"error":{"code":"SERVICE_UNAVAILABLE","message":"`) {
			t.Errorf("%s with the database stopped: %d %s %s", u.what, st, ctype, body)
		}
	}
	if st, _ := s.call("GET", "/healthz", ""); st != 200 {
		t.Errorf("/healthz with the database stopped: %d", st)
	}
	l.stop()
	report, failed := l.report(down)
	t.Logf("cached credentials: %s", report)
	if failed {
		t.Fatalf("cached credentials failed with the database stopped: %s", report)
	}
	m := scrape(t, s.admin+"/metrics")
	t.Logf("store errors of lookups: %v", metricSum(m, "zectre_auth_store_errors_total{"))

	restartPostgres()
	// The pool reconnects by itself: a generous bound on the recovery.
	took := until(t, 30*time.Second, "/readyz 200 after the database restart", func() bool {
		st, body := s.call("GET", "/readyz", "")
		return st == 200 && body["status"] == "ready"
	})
	t.Logf("ready again %s after the database restart", took)
	select {
	case err := <-s.done:
		t.Fatalf("zectre-auth exited during the drill: %v", err)
	default:
	}
	if st, b := s.call("POST", "/api/v1/auth/signup", `{"email":"drill-pg-2@example.com","password":"hunter2abc"}`); st != 201 {
		t.Fatalf("signup after the restart: %d %v", st, b)
	}
	st, created := s.call("POST", "/api/v1/api-keys", `{"name":"after the outage"}`, "Authorization", bearer)
	if st != 201 {
		t.Fatalf("key creation after the restart: %d %v", st, created)
	}
	for _, p := range paths[:2] {
		for _, c := range [][]string{{"X-API-Key", created["key"].(string)}, {"X-API-Key", key}, {"Authorization", bearer}} {
			if st := proxied(t, s, p, c...); st != 200 {
				t.Fatalf("%s after the restart: %d", p, st)
			}
		}
		if st := proxied(t, s, p, "X-API-Key", unknown.Raw); st != 401 {
			t.Fatalf("%s with an unknown key after the restart: %d", p, st)
		}
	}
	s.stop()
}

// raw sends a request and returns the status, Content-Type and body.
func (s *server) raw(method, path, body string, headers ...string) (int, string, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		noteBody([]byte(body))
	}
	noteHeaders(headers...)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(fmt.Errorf("%s %s: %w", method, path, err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	noteBody(raw)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(raw)
}
