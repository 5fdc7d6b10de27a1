package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/cache/cachetest"
)

// TestClusterReplicas runs two replicas on a three-master Redis Cluster
// (ZECTRE_AUTH_REDIS_URL with addr parameters): a key deleted on one is
// refused by the other, and failed logins add up across both.
func TestClusterReplicas(t *testing.T) {
	cluster := cachetest.StartCluster(t)
	up := newRecorder(t)
	environ, dir := replicaEnv(t, cluster.URL, up.srv.URL)
	cfg := filepath.Join(dir, "zectre-auth.toml")
	raw, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(raw, "[limits]\nlogin_failures_per_account = 4\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	a := start(t, dir, environ)
	b := start(t, t.TempDir(), environ)
	for _, s := range []*server{a, b} {
		if st, body := s.call("GET", "/readyz", ""); st != 200 || body["status"] != "ready" {
			t.Fatalf("/readyz of %s on the cluster: %d %v", s.base, st, body)
		}
	}

	token, key := a.account("cluster@example.com")
	for _, s := range []*server{a, b} {
		if st := proxied(t, s, "/apps/1", "X-API-Key", key); st != 200 {
			t.Fatalf("key through %s: %d", s.base, st)
		}
	}
	st, list := a.call("GET", "/api/v1/api-keys", "", "Authorization", "Bearer "+token)
	if st != 200 {
		t.Fatalf("list keys: %d", st)
	}
	id := list["data"].([]any)[0].(map[string]any)["id"].(string)
	if st, _ := a.call("DELETE", "/api/v1/api-keys/"+id, "", "Authorization", "Bearer "+token); st != 204 {
		t.Fatalf("delete key: %d", st)
	}
	took := until(t, 5*time.Second, "deleted key refused by replica B", func() bool {
		return proxied(t, b, "/apps/1", "X-API-Key", key) == 401
	})
	t.Logf("key deleted on A, refused by B after %s (Redis Cluster)", took)

	checkSharedLoginLimit(t, "cluster@example.com", a, b)
	a.stop()
	b.stop()
}

// A misspelt Sentinel parameter is refused at start, without quoting the
// URL's password, instead of connecting to the Sentinel as if it were Redis.
func TestRedisURLTypoRefused(t *testing.T) {
	dir := t.TempDir()
	environ := env("ZECTRE_AUTH_DATA_DIR="+dir,
		"ZECTRE_AUTH_REDIS_URL=redis://:typo-secret-pw@127.0.0.1:26379?master-set=mymaster")
	_, stderr, code := command(t, dir, environ, "serve")
	if code == 0 || !strings.Contains(stderr, "ZECTRE_AUTH_REDIS_URL: unknown query parameter \"master-set\"") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "typo-secret-pw") {
		t.Fatalf("stderr quotes the password:\n%s", stderr)
	}
}
