package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp/fasthttputil"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/handlers"
	"github.com/zectre/zectre-auth/store/storetest"
)

// fuzzStoreEnv picks the fuzz service's store: unset or "sqlite" for SQLite,
// "postgres" to replay the corpus against PostgreSQL (whose text columns
// refuse what SQLite stores, such as NUL characters).
const fuzzStoreEnv = "ZECTRE_AUTH_FUZZ_STORE"

// fuzzPolicy is testPolicy with limits no fuzz run reaches: every request of
// a run comes from the same (in-memory) address.
func fuzzPolicy() authn.LimitPolicy {
	const never = 1 << 40
	p := testPolicy()
	p.FailuresPerAccount.N = never
	p.FailuresPerAddress.N = never
	for a, l := range p.PerAddress {
		l.N = never
		p.PerAddress[a] = l
	}
	return p
}

// fuzzService is the API served over an in-memory listener, so that a fuzz
// input costs no sockets.
type fuzzService struct {
	http  *http.Client
	token string // a bearer token of fuzzEmail
}

const (
	fuzzBase  = "http://zectre-auth.fuzz"
	fuzzEmail = "fuzz@example.com"
)

func startFuzzService(tb testing.TB, url string) *fuzzService {
	tb.Helper()
	api := newTestAPI(tb, url, fuzzPolicy(), testParams, time.Now)
	log := api.Log
	srv := handlers.NewServer(handlers.NewFront(api, nil, nil).Serve, log)
	ln := fasthttputil.NewInmemoryListener()
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	tb.Cleanup(func() { srv.Shutdown() })

	tr := &http.Transport{
		DialContext:           func(context.Context, string, string) (net.Conn, error) { return ln.Dial() },
		MaxIdleConnsPerHost:   4,
		DisableCompression:    true,
		ResponseHeaderTimeout: 10 * time.Second,
	}
	tb.Cleanup(tr.CloseIdleConnections)
	s := &fuzzService{http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}

	creds := []byte(`{"email":"` + fuzzEmail + `","password":"` + testPassword + `"}`)
	if status, _, raw, err := s.post("/api/v1/auth/signup", creds, ""); err != nil || status != 201 {
		tb.Fatalf("signup: %d %s %v", status, raw, err)
	}
	status, _, raw, err := s.post("/api/v1/auth/login", creds, "")
	if err != nil || status != 200 {
		tb.Fatalf("login: %d %s %v", status, raw, err)
	}
	var login struct{ Token string }
	if err := json.Unmarshal(raw, &login); err != nil || login.Token == "" {
		tb.Fatalf("login body %s: %v", raw, err)
	}
	s.token = login.Token
	return s
}

// post sends body as is; token, if set, goes in a bearer header.
func (s *fuzzService) post(path string, body []byte, token string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest("POST", fuzzBase+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw, err
}

// fuzzSeeds are bodies for the fuzzed routes: valid ones for each, and the
// shapes that break JSON decoders.
func fuzzSeeds() [][]byte {
	deep := strings.Repeat("[", 10000)
	seeds := []string{
		// Valid, or nearly, for each route.
		`{"email":"seed@example.com","password":"hunter2abc","name":"Seed"}`,
		`{"email":"` + fuzzEmail + `","password":"` + testPassword + `"}`,
		`{"email":"` + fuzzEmail + `","password":"wrong-password"}`,
		`{"name":"ci","scopes":["keys:read","deploy"],"expires_in_days":30}`,
		`{"name":"ci","scopes":null,"expires_in_days":null}`,
		`{"device_name":"laptop"}`,
		`{}`,
		``,
		`{"code":"` + strings.Repeat("ab", 32) + `","email":"` + fuzzEmail + `","password":"` + testPassword + `"}`,
		`{"code":"","email":"","password":""}`,
		`{"code":"` + strings.Repeat("a", 65) + `","email":"x@y.z","password":"p"}`,
		// Not an object.
		`null`, `true`, `0`, `"x"`, `[]`, `[{"email":"a@b.c"}]`, ` `, "\t\r\n{}",
		// Deep nesting: a bare array, and inside an object at and past the
		// decoder's depth limit.
		deep,
		`{"email":` + deep,
		`{"name":` + strings.Repeat(`{"a":`, 9998) + `1` + strings.Repeat(`}`, 9998) + `}`,
		`{"name":` + strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001) + `}`,
		strings.Repeat(`{`, 10000),
		// Invalid UTF-8, raw and in strings.
		"\xff\xfe\xfd",
		"{\"email\":\"a\xff@b.c\",\"password\":\"hunter2abc\"}",
		"{\"name\":\"\xc0\x80\"}",
		"{\"device_name\":\"\xed\xa0\x80\"}", // an encoded surrogate
		// Numbers: huge, tiny, negative, fractional, in the wrong place.
		`{"name":"k","expires_in_days":1e400}`,
		`{"name":"k","expires_in_days":99999999999999999999999999999}`,
		`{"name":"k","expires_in_days":1e-400}`,
		`{"name":"k","expires_in_days":-0}`,
		`{"name":"k","expires_in_days":3650.0000000001}`,
		`{"name":"k","expires_in_days":3650}`,
		`{"name":"k","expires_in_days":"30"}`,
		`{"email":1e999,"password":12345678}`,
		`{"name":"k","expires_in_days":` + strings.Repeat("9", 5000) + `}`,
		// Duplicate keys: the last one wins in encoding/json.
		`{"email":"dup@example.com","email":"dup2@example.com","password":"hunter2abc","password":"x"}`,
		`{"name":"a","name":null,"scopes":["*"],"scopes":[]}`,
		`{"code":"a","code":"b","email":"x","email":"y","password":"p","password":"q"}`,
		// Nulls everywhere.
		`{"email":null,"password":null,"name":null}`,
		`{"code":null,"email":null,"password":null}`,
		`{"device_name":null}`,
		`{"scopes":[null],"name":"k"}`,
		// Unicode escapes: surrogates lone and paired, NUL, BOM, line separators.
		`{"email":"\u0061@\u0062.c","password":"\u0068unter2abc"}`,
		`{"email":"\ud800@b.c","password":"hunter2abc"}`,
		`{"name":"\udfff\ud800","password":"hunter2abc","email":"s@b.c"}`,
		`{"name":"\ud83d\ude00"}`,
		`{"email":"nul@example.com","password":"hunter2abc","name":"a\u0000b"}`,
		`{"name":"\u0000","scopes":["\u0000"]}`,
		`{"device_name":"\u0000\u2028\u2029\ufeff"}`,
		`{"code":"\u0000","email":"\u0000@x","password":"\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000"}`,
		"\ufeff{}",
		// Raw NUL bytes.
		"\x00",
		"{\"email\":\"a\x00@b.c\",\"password\":\"hunter2abc\"}",
		"{}\x00",
		// Trailing and truncated data.
		`{} {}`, `{}]`, `{"email":"a@b.c"`, `{"email`, `{"a":1,}`, `{,}`,
		// Sizes near the bounds.
		`{"email":"x@example.com","password":"` + strings.Repeat("p", 1025) + `"}`,
		`{"name":"` + strings.Repeat("n", 201) + `","email":"n@example.com","password":"hunter2abc"}`,
		`{"name":"k","scopes":[` + strings.Repeat(`"a",`, 40) + `"a"]}`,
	}
	out := make([][]byte, len(seeds))
	for i, s := range seeds {
		out[i] = []byte(s)
	}
	return out
}

// fuzzRoutes are the POST routes that read a JSON body; auth says whether
// the service's bearer token is sent.
var fuzzRoutes = []struct {
	path string
	auth bool
}{
	{"/api/v1/auth/signup", false},
	{"/api/v1/auth/login", false},
	{"/api/v1/api-keys", true},
	{"/api/v1/auth/cli/initiate", false},
	{"/api/v1/auth/cli/complete", false},
}

// FuzzRequestBodies: whatever the body, every JSON route answers with a
// status below 500 and a JSON body of the declared type, and every refusal
// carries the error envelope. Fuzzing runs on SQLite, or on PostgreSQL with
// ZECTRE_AUTH_FUZZ_STORE=postgres.
func FuzzRequestBodies(f *testing.F) {
	url := ""
	switch os.Getenv(fuzzStoreEnv) {
	case "", "sqlite":
		url = storetest.SQLiteURL(f)
	case "postgres":
		url = storetest.PostgresURL(f)
	default:
		f.Fatalf("%s=%q: want sqlite or postgres", fuzzStoreEnv, os.Getenv(fuzzStoreEnv))
	}
	s := startFuzzService(f, url)
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body []byte) { s.sendEverywhere(t, body) })
}

// TestRequestBodiesBothStores replays the fuzz seeds on both stores, since
// their text columns refuse different things (PostgreSQL refuses NUL).
func TestRequestBodiesBothStores(t *testing.T) {
	stores(t, func(t *testing.T, url string) {
		s := startFuzzService(t, url)
		for _, body := range fuzzSeeds() {
			s.sendEverywhere(t, body)
		}
	})
}

// sendEverywhere posts body to every JSON route and checks each answer.
func (s *fuzzService) sendEverywhere(t *testing.T, body []byte) {
	t.Helper()
	for _, r := range fuzzRoutes {
		token := ""
		if r.auth {
			token = s.token
		}
		status, header, raw, err := s.post(r.path, body, token)
		if err != nil {
			t.Fatalf("POST %s: %v", r.path, err)
		}
		checkFuzzReply(t, r.path, status, header, raw)
	}
}

func checkFuzzReply(t *testing.T, path string, status int, header http.Header, raw []byte) {
	t.Helper()
	if status >= 500 {
		t.Fatalf("POST %s: status %d, body %.300s", path, status, raw)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("POST %s: %d with Content-Type %q", path, status, ct)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("POST %s: %d with a body that is no JSON object (%v): %.300q", path, status, err, raw)
	}
	if status >= 200 && status < 300 {
		if _, isErr := body["error"]; isErr {
			t.Fatalf("POST %s: %d with an error body %s", path, status, raw)
		}
		return
	}
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	if code == "" || msg == "" {
		t.Fatalf("POST %s: %d without error.code and error.message strings: %.300s", path, status, raw)
	}
}
