package handlers_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/secretscan"
	"github.com/zectre/zectre-auth/secretscan/secretscantest"
	zsvc "github.com/zectre/zectre-auth/service"
)

// report sends body to the secret scanning endpoint with the given
// identifier and signature headers ("" leaves one out).
func report(s *service, body []byte, id, sig string) reply {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.base+"/api/v1/secret-scanning/github", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if id != "" {
		req.Header.Set("Github-Public-Key-Identifier", id)
	}
	if sig != "" {
		req.Header.Set("Github-Public-Key-Signature", sig)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	// The answer to a report is an array; errors are the usual envelope.
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			s.t.Fatalf("non-JSON answer %q", raw)
		}
	}
	return r
}

func leakBody(tokens ...string) []byte {
	type entry struct {
		Token  string `json:"token"`
		Type   string `json:"type"`
		URL    string `json:"url"`
		Source string `json:"source"`
	}
	var es []entry
	for _, tk := range tokens {
		es = append(es, entry{tk, "zectre_api_key", "https://github.example/o/r/blob/abc/ci.yml", "content"})
	}
	b, _ := json.Marshal(es)
	return b
}

// TestSecretScanning: a signed report revokes the zectre keys it names and
// labels every token; an unsigned, tampered, wrongly signed report or one
// naming an unknown key revokes nothing.
func TestSecretScanning(t *testing.T) {
	stores(t, func(t *testing.T, url string) {
		signer := secretscantest.NewSigner(t, "key-1")
		doc := secretscantest.Serve(t, signer)
		clk := &clock{t: time.Now().UTC()}
		api := newTestAPI(t, url, testPolicy(), testParams, clk.Now)
		api.SecretScanning = secretscan.NewVerifier(doc.URL, clk.Now)
		s := serveAPI(t, api, clk)
		token := s.signupLogin("leak@example.com")
		leaked, _ := s.createKey(token, map[string]any{"name": "leaked"})
		kept, _ := s.createKey(token, map[string]any{"name": "kept"})
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", leaked), 200, "")

		body := leakBody(leaked, "zec_"+strings.Repeat("A", 42), "not a key at all")
		sig := signer.Sign(t, body)
		other := secretscantest.NewSigner(t, "key-1")
		tampered := []byte(strings.Replace(string(body), "content", "commit!", 1))
		for _, tc := range []struct {
			name    string
			body    []byte
			id, sig string
		}{
			{"no signature", body, "key-1", ""},
			{"no identifier", body, "", sig},
			{"tampered body", tampered, "key-1", sig},
			{"wrong signature", body, "key-1", other.Sign(t, body)},
			{"signature not base64", body, "key-1", "%%%"},
			{"unknown identifier", body, "key-2", sig},
		} {
			t.Run(tc.name, func(t *testing.T) {
				expect(t, report(s, tc.body, tc.id, tc.sig), 401, "INVALID_SIGNATURE")
				expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", leaked), 200, "")
			})
		}

		r := report(s, body, "key-1", sig)
		expect(t, r, 200, "")
		var labels []map[string]string
		if err := json.Unmarshal(r.raw, &labels); err != nil || len(labels) != 3 {
			t.Fatalf("answer: %s", r.raw)
		}
		for i, want := range []string{"true_positive", "false_positive", "false_positive"} {
			if labels[i]["label"] != want || labels[i]["token_type"] != "zectre_api_key" {
				t.Fatalf("entry %d: %v, want %s", i, labels[i], want)
			}
		}
		sum := sha256.Sum256([]byte(leaked))
		if labels[0]["token_hash"] != hex.EncodeToString(sum[:]) || strings.Contains(string(r.raw), leaked) {
			t.Fatalf("the answer must name tokens by their hash only: %s", r.raw)
		}
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", leaked), 401, "INVALID_API_KEY")
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", kept), 200, "")

		// The same report again: the key is gone, so it is no longer one.
		r = report(s, body, "key-1", sig)
		expect(t, r, 200, "")
		if !strings.Contains(string(r.raw), `"label":"false_positive"`) || strings.Contains(string(r.raw), "true_positive") {
			t.Fatalf("second report: %s", r.raw)
		}

		// Unknown identifiers fetch the document at most once a minute: a
		// key added to it is found once the minute is over.
		clk.Advance(time.Minute)
		fetches := doc.Fetches.Load()
		rotated := secretscantest.NewSigner(t, "key-3")
		b2 := leakBody(kept)
		expect(t, report(s, b2, "key-3", rotated.Sign(t, b2)), 401, "INVALID_SIGNATURE")
		doc.Set(t, signer, rotated)
		for range 3 {
			expect(t, report(s, b2, "key-3", rotated.Sign(t, b2)), 401, "INVALID_SIGNATURE")
		}
		if n := doc.Fetches.Load() - fetches; n != 1 {
			t.Fatalf("%d fetches for four reports naming an unknown key within a minute, want 1", n)
		}
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", kept), 200, "")
		clk.Advance(time.Minute)
		expect(t, report(s, b2, "key-3", rotated.Sign(t, b2)), 200, "")
		expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", kept), 401, "INVALID_API_KEY")
		// The old key is still known, without another fetch.
		fetches = doc.Fetches.Load()
		expect(t, report(s, body, "key-1", sig), 200, "")
		if doc.Fetches.Load() != fetches {
			t.Fatal("a known key caused a fetch")
		}

		// Signed bodies that are not a report are refused like any bad JSON.
		for _, bad := range []string{`{"token":"x"}`, `[{"token":1}]`, `not json`} {
			expect(t, report(s, []byte(bad), "key-1", signer.Sign(t, []byte(bad))), 400, "INVALID_JSON")
		}
	})
}

// TestSecretScanningOff: without secret_scanning_keys_url the endpoint is a
// JSON 404, signed or not.
func TestSecretScanningOff(t *testing.T) {
	s := startService(t, storeURLForOneStore(t), testPolicy())
	expect(t, report(s, leakBody("x"), "key-1", "c2ln"), 404, "NOT_FOUND")
}

// TestSecretScanningKeysUnavailable: while the keys document cannot be
// fetched a report is 503, to be sent again, and revokes nothing.
func TestSecretScanningKeysUnavailable(t *testing.T) {
	signer := secretscantest.NewSigner(t, "key-1")
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	clk := &clock{t: time.Now().UTC()}
	api := newTestAPI(t, storeURLForOneStore(t), testPolicy(), testParams, clk.Now)
	api.SecretScanning = secretscan.NewVerifier(down.URL, clk.Now)
	s := serveAPI(t, api, clk)
	token := s.signupLogin("unavailable@example.com")
	key, _ := s.createKey(token, map[string]any{"name": "k"})
	body := leakBody(key)
	for range 2 {
		expect(t, report(s, body, "key-1", signer.Sign(t, body)), 503, "SERVICE_UNAVAILABLE")
	}
	expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", key), 200, "")
}

// TestSecretScanningBodyLimit: a report is held to the API's body limit,
// before any signature check.
func TestSecretScanningBodyLimit(t *testing.T) {
	signer := secretscantest.NewSigner(t, "key-1")
	doc := secretscantest.Serve(t, signer)
	clk := &clock{t: time.Now().UTC()}
	api := newTestAPI(t, storeURLForOneStore(t), testPolicy(), testParams, clk.Now)
	api.SecretScanning = secretscan.NewVerifier(doc.URL, clk.Now)
	s := serveAPI(t, api, clk)
	big := `[{"token":"` + strings.Repeat("a", 1<<20) + `"}]`
	raw := "POST /api/v1/secret-scanning/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
		"Github-Public-Key-Identifier: key-1\r\nGithub-Public-Key-Signature: " + signer.Sign(t, []byte(big)) + "\r\n" +
		"Content-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big
	if status, body := rawExchange(t, s.base, raw); status != 413 || !strings.Contains(body, `"PAYLOAD_TOO_LARGE"`) {
		t.Fatalf("oversize report: %d %s", status, body)
	}
	if doc.Fetches.Load() != 0 {
		t.Fatal("an oversize report fetched the keys document")
	}
}

// TestSecretScanningAuditLine: a key revoked on a report gets an audit line
// of its own, naming the report, the key by its prefix and id, never the
// key itself.
func TestSecretScanningAuditLine(t *testing.T) {
	signer := secretscantest.NewSigner(t, "key-1")
	doc := secretscantest.Serve(t, signer)
	clk := &clock{t: time.Now().UTC()}
	policy := testPolicy()
	audit := &auditBuffer{}
	svc := newTestService(t, storeURLForOneStore(t), zsvc.Options{Passwords: testParams, Now: clk.Now, Limits: &policy, AuditOut: audit}, nil)
	svc.API.SecretScanning = secretscan.NewVerifier(doc.URL, clk.Now)
	s := serveAPI(t, svc.API, clk)
	token := s.signupLogin("audited@example.com")
	leaked, id := s.createKey(token, map[string]any{"name": "leaked"})
	body := leakBody(leaked)
	expect(t, report(s, body, "key-1", signer.Sign(t, body)), 200, "")
	if err := svc.API.Audit.Flush(); err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(audit.String(), "\n") {
		if strings.Contains(l, `"source":"secret_scanning"`) {
			line = l
		}
	}
	for _, want := range []string{`"outcome":"revoked"`, `"key_id":"` + id + `"`, `"key_prefix":"` + leaked[:8] + `"`,
		"github.example/o/r/blob/abc/ci.yml", "source content"} {
		if !strings.Contains(line, want) {
			t.Fatalf("audit line %q lacks %q; all lines:\n%s", line, want, audit.String())
		}
	}
	if strings.Contains(audit.String(), leaked) {
		t.Fatal("the leaked key itself is in the audit log")
	}
}
