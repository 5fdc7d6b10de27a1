package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/cache/cachetest"
	"github.com/zectre/zectre-auth/secretscan/secretscantest"
)

// TestReplicasLeakReport: a leak report signed by a key of the document,
// sent to replica A, revokes the key on both replicas within a second; a
// report with a wrong signature, sent first, revoked nothing.
func TestReplicasLeakReport(t *testing.T) {
	signer := secretscantest.NewSigner(t, "leak-key")
	doc := secretscantest.Serve(t, signer)
	up := newRecorder(t)
	environ, dir := replicaEnv(t, cachetest.RedisURL(t), up.srv.URL)
	environ = append(environ, "ZECTRE_AUTH_SECRET_SCANNING_KEYS_URL="+doc.URL)
	a := start(t, dir, environ)
	b := start(t, t.TempDir(), environ)
	defer a.stop()
	defer b.stop()

	_, key := a.account("leak-replicas@example.com")
	for _, s := range []*server{a, b} {
		if st := proxied(t, s, "/apps/1", "X-API-Key", key); st != 200 {
			t.Fatalf("warm-up through %s: %d", s.base, st)
		}
	}
	body, _ := json.Marshal([]map[string]string{{
		"token": key, "type": "zectre_api_key", "url": "https://github.example/o/r/blob/1/.env", "source": "content",
	}})
	send := func(sig string) (int, string) {
		req, _ := http.NewRequest("POST", a.base+"/api/v1/secret-scanning/github", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Github-Public-Key-Identifier", signer.ID)
		req.Header.Set("Github-Public-Key-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}

	forged := secretscantest.NewSigner(t, signer.ID)
	if st, raw := send(forged.Sign(t, body)); st != 401 || !strings.Contains(raw, "INVALID_SIGNATURE") {
		t.Fatalf("forged report: %d %s", st, raw)
	}
	for _, s := range []*server{a, b} {
		if st := proxied(t, s, "/apps/1", "X-API-Key", key); st != 200 {
			t.Fatalf("a forged report revoked the key on %s: %d", s.base, st)
		}
	}

	sent := time.Now()
	st, raw := send(signer.Sign(t, body))
	if st != 200 || !strings.Contains(raw, `"label":"true_positive"`) {
		t.Fatalf("signed report: %d %s", st, raw)
	}
	t.Logf("signed report answered after %s", time.Since(sent))
	for _, s := range []*server{a, b} {
		until(t, time.Second, "reported key refused", func() bool {
			return proxied(t, s, "/apps/1", "X-API-Key", key) == 401
		})
		t.Logf("reported key refused by %s %s after the report was sent", s.base, time.Since(sent))
	}
}
