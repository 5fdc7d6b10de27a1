package handlers_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/handlers"
)

func TestFailedLoginLimit(t *testing.T) {
	policy := testPolicy()
	policy.FailuresPerAccount = authn.Limit{N: 5, Window: time.Hour}
	s := startService(t, storeURLForOneStore(t), policy)
	token := s.signupLogin("gina@example.com")
	key, _ := s.createKey(token, map[string]any{"name": "k"})

	for i := range 5 {
		r := s.do("POST", "/api/v1/auth/login", `{"email":"gina@example.com","password":"wrong-password"}`)
		expect(t, r, 401, "INVALID_CREDENTIALS")
		_ = i
	}
	r := s.do("POST", "/api/v1/auth/login", `{"email":"GINA@example.com","password":"hunter2abc"}`)
	expect(t, r, 429, "RATE_LIMITED")
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 || secs > 3600 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// CLI completes count against the same account.
	code := s.do("POST", "/api/v1/auth/cli/initiate", nil).str("code")
	expect(t, s.do("POST", "/api/v1/auth/cli/complete", map[string]string{"code": code, "email": "gina@example.com", "password": testPassword}), 429, "RATE_LIMITED")
	// The locked-out account's existing token and key keep working.
	expect(t, s.do("GET", "/api/v1/user", nil, "Authorization", "Bearer "+token), 200, "")
	expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", key), 200, "")
	// Other accounts are unaffected.
	s.signupLogin("hank@example.com")
}

func TestPerAddressLimits(t *testing.T) {
	policy := testPolicy()
	policy.PerAddress[authn.ActionSignup] = authn.Limit{N: 3, Window: time.Minute}
	policy.PerAddress[authn.ActionPoll] = authn.Limit{N: 2, Window: time.Minute}
	s := startService(t, storeURLForOneStore(t), policy)
	for i := range 3 {
		expect(t, s.do("POST", "/api/v1/auth/signup", fmt.Sprintf(`{"email":"u%d@example.com","password":"hunter2abc"}`, i)), 201, "")
	}
	expect(t, s.do("POST", "/api/v1/auth/signup", `{"email":"u9@example.com","password":"hunter2abc"}`), 429, "RATE_LIMITED")
	code := s.do("POST", "/api/v1/auth/cli/initiate", nil).str("code")
	for range 2 {
		expect(t, s.do("GET", "/api/v1/auth/cli/status/"+code, nil), 200, "")
	}
	expect(t, s.do("GET", "/api/v1/auth/cli/status/"+code, nil), 429, "RATE_LIMITED")
}

func TestBodyLimit(t *testing.T) {
	s := startService(t, storeURLForOneStore(t), testPolicy())
	big := `{"email":"big@example.com","password":"hunter2abc","name":"` + strings.Repeat("x", 1<<20) + `"}`
	sized := fmt.Sprintf("POST /api/v1/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(big), big)
	chunked := fmt.Sprintf("POST /api/v1/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
	for off := 0; off < len(big); off += 64 << 10 {
		part := big[off:min(off+64<<10, len(big))]
		chunked += fmt.Sprintf("%x\r\n%s\r\n", len(part), part)
	}
	chunked += "0\r\n\r\n"
	for name, raw := range map[string]string{"content-length": sized, "chunked": chunked} {
		t.Run(name, func(t *testing.T) {
			status, body := rawExchange(t, s.base, raw)
			if status != 413 || !strings.Contains(body, `"PAYLOAD_TOO_LARGE"`) {
				t.Fatalf("oversize body: %d %s", status, body)
			}
		})
	}
	if _, err := s.store.UserByEmail(t.Context(), "big@example.com"); err == nil {
		t.Fatal("an oversized signup created an account")
	}
	// Just under the limit is read (and refused only for its content).
	ok := `{"email":"big@example.com","password":"hunter2abc","name":"` + strings.Repeat("x", 1<<19) + `"}`
	expect(t, s.do("POST", "/api/v1/auth/signup", ok), 400, "VALIDATION_ERROR")
}

// rawExchange writes a request as bytes while reading the answer, so that a
// server that answers before the body is all sent is still heard.
func rawExchange(t *testing.T, base, request string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(conn, request) //nolint:errcheck // the server may stop reading early
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestRouting(t *testing.T) {
	s := startService(t, storeURLForOneStore(t), testPolicy())
	expect(t, s.do("GET", "/nope", nil), 404, "NOT_FOUND")
	expect(t, s.do("GET", "/api/v1/auth/signup", nil), 405, "METHOD_NOT_ALLOWED")
	expect(t, s.do("PUT", "/api/v1/api-keys", nil), 405, "METHOD_NOT_ALLOWED")
	expect(t, s.do("GET", "/api/v1/user/", nil), 404, "NOT_FOUND")
	expect(t, s.do("GET", "/healthz", nil), 200, "")
	expect(t, s.do("GET", "/readyz", nil), 200, "")

	// A request fasthttp cannot read still gets the JSON envelope.
	status, body := rawExchange(t, s.base, fmt.Sprintf("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("h", 64<<10)))
	if status != 431 || !strings.Contains(body, `"HEADERS_TOO_LARGE"`) {
		t.Fatalf("oversized header: %d %s", status, body)
	}
}

// TestLimitsBehindTrustedProxy: per-address limits count the client a
// trusted proxy names in X-Forwarded-For, and ignore the header from anyone
// else (who could otherwise pick a fresh address per attempt).
func TestLimitsBehindTrustedProxy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		// want is the status of the third signup, from a second client
		// address named in X-Forwarded-For.
		want int
	}{
		{"trusted", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, 201},
		{"untrusted", nil, 429},
	} {
		t.Run(tc.name, func(t *testing.T) {
			policy := testPolicy()
			policy.PerAddress[authn.ActionSignup] = authn.Limit{N: 2, Window: time.Minute}
			clk := &clock{t: time.Now().UTC()}
			api := newTestAPI(t, storeURLForOneStore(t), policy, testParams, clk.Now)
			api.Trusted = tc.trusted
			srv := handlers.NewServer(handlers.NewFront(api, nil, nil).Serve, api.Log)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
			t.Cleanup(func() { srv.Shutdown() })
			s := &service{t: t, base: "http://" + ln.Addr().String(), store: api.Store, clock: clk, api: api,
				http: &http.Client{Timeout: 10 * time.Second}}
			for i := range 2 {
				expect(t, s.do("POST", "/api/v1/auth/signup", fmt.Sprintf(`{"email":"p%d@example.com","password":"hunter2abc"}`, i),
					"X-Forwarded-For", "198.51.100.1, 203.0.113.7"), 201, "")
			}
			r := s.do("POST", "/api/v1/auth/signup", `{"email":"p9@example.com","password":"hunter2abc"}`,
				"X-Forwarded-For", "203.0.113.8")
			if r.status != tc.want {
				t.Fatalf("third signup from another forwarded client: %d, want %d", r.status, tc.want)
			}
		})
	}
}
