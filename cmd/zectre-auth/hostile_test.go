package main

// Hostile input drills against the real binary (docs/drills.md, "Hostile
// input"): the request limits as the configuration sets them, slowloris,
// floods of random API keys and of unknown JWKS key ids. Each checks the
// answers and that the process keeps serving others.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// startWithConfig writes toml as the config file and starts the binary.
func startWithConfig(t *testing.T, toml string, kv ...string) *server {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "zectre-auth.toml")
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return start(t, dir, env(append([]string{"ZECTRE_AUTH_CONFIG=" + cfg}, kv...)...))
}

// stillServing fails unless the process runs and answers.
func (s *server) stillServing() {
	s.t.Helper()
	select {
	case err := <-s.done:
		s.t.Fatalf("zectre-auth exited: %v\n%s", err, s.logs())
	default:
	}
	if st, b := s.call("GET", "/healthz", ""); st != 200 {
		s.t.Fatalf("healthz: %d %v", st, b)
	}
	if strings.Contains(s.logs(), "panicked") {
		s.t.Fatalf("a handler panicked:\n%s", s.logs())
	}
}

// exchange writes raw on a new connection (concurrently, so that an answer
// sent before everything was read is still heard) and reads one answer;
// status 0 means the connection closed without one.
func exchange(t *testing.T, base string, raw []byte) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	go c.Write(raw) //nolint:errcheck // the server may stop reading early
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		var op *net.OpError
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &op) && !op.Timeout()) {
			return 0, ""
		}
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestHostileConfiguredLimits runs the binary with small request limits
// from its config file and checks each, then a slowloris attack: many
// connections trickle their headers one byte at a time and are cut after
// read_timeout, while an ordinary client is served all along.
func TestHostileConfiguredLimits(t *testing.T) {
	var upstreamBytes atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		upstreamBytes.Add(n)
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	s := startWithConfig(t, fmt.Sprintf(`upstream = %q
max_header_bytes = 8192
max_body_bytes = 4096
max_proxy_body_bytes = 65536
read_timeout = "1s"
idle_timeout = "5s"
`, up.URL))
	token, _ := s.account("limits@example.com")

	t.Run("max_header_bytes", func(t *testing.T) {
		pad := func(size int) []byte {
			const start, end = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ", "\r\n\r\n"
			return []byte(start + strings.Repeat("p", size-len(start)-len(end)) + end)
		}
		if st, _ := exchange(t, s.base, pad(8192)); st != 200 {
			t.Fatalf("8192 bytes of headers: %d", st)
		}
		if st, body := exchange(t, s.base, pad(8193)); st != 431 || !strings.Contains(body, `"HEADERS_TOO_LARGE"`) {
			t.Fatalf("8193 bytes of headers: %d %s", st, body)
		}
	})
	t.Run("max_body_bytes", func(t *testing.T) {
		body := `{"email":"x@example.com","password":"hunter2abc","name":"` + strings.Repeat("n", 4096) + `"}`
		raw := fmt.Sprintf("POST /api/v1/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		if st, b := exchange(t, s.base, []byte(raw)); st != 413 || !strings.Contains(b, "larger than 4 KiB") {
			t.Fatalf("a signup body over 4 KiB: %d %s", st, b)
		}
	})
	t.Run("max_proxy_body_bytes", func(t *testing.T) {
		body := strings.Repeat("u", 65537)
		raw := fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		if st, b := exchange(t, s.base, []byte(raw)); st != 413 || !strings.Contains(b, `"PAYLOAD_TOO_LARGE"`) {
			t.Fatalf("a proxied body over 64 KiB: %d %s", st, b)
		}
		if n := upstreamBytes.Load(); n != 0 {
			t.Fatalf("the upstream read %d bytes of a refused body", n)
		}
		chunked := "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		for range 32 {
			chunked += fmt.Sprintf("%x\r\n%s\r\n", 4096, strings.Repeat("c", 4096))
		}
		if st, b := exchange(t, s.base, []byte(chunked+"0\r\n\r\n")); st != 413 {
			t.Fatalf("a chunked proxied body of 128 KiB: %d %s", st, b)
		}
		if st := proxied(t, s, "/upload"); st != 200 {
			t.Fatalf("an ordinary proxied request: %d", st)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		rnd := mrand.New(mrand.NewPCG(3, 4))
		for i := range 64 {
			b := make([]byte, 1+rnd.IntN(2048))
			for j := range b {
				b[j] = byte(rnd.Uint32())
			}
			if i%2 == 0 {
				b = append(b, "\r\n\r\n"...)
			}
			st, body := exchange(t, s.base, b)
			if st != 0 && st != 400 && st != 408 && st != 431 {
				t.Fatalf("random bytes %d: %d %s", i, st, body)
			}
			if strings.Contains(body, "goroutine") || strings.Contains(body, ".go:") {
				t.Fatalf("random bytes %d: a stack trace in the answer: %s", i, body)
			}
		}
		s.stillServing()
	})
	t.Run("slowloris", func(t *testing.T) { slowloris(t, s, token) })
	s.stillServing()
}

// slowloris opens many connections that send a request's headers one byte
// every 100 ms and never finish, and meanwhile sends ordinary requests on
// another connection. read_timeout is 1 s.
func slowloris(t *testing.T, s *server, token string) {
	const conns = 200
	const bound = 30 * time.Second // far past read_timeout: only a connection never cut reaches it
	type result struct {
		cutAfter time.Duration
		answer   string // the status line, or "" when closed without an answer
		sent     int    // bytes the client got to send
		cut      bool
	}
	results := make(chan result, conns)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			c, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
			if err != nil {
				results <- result{}
				return
			}
			defer c.Close()
			opened := time.Now()
			req := fmt.Sprintf("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow-%d: %s", i, strings.Repeat("s", 1000))
			answered := make(chan string, 1)
			go func() {
				c.SetReadDeadline(time.Now().Add(bound))
				line, _ := bufio.NewReader(c).ReadString('\n')
				answered <- strings.TrimSpace(line)
			}()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			sent := 0
			for sent < len(req) {
				select {
				case line := <-answered:
					results <- result{time.Since(opened), line, sent, true}
					return
				case <-tick.C:
					if _, err := c.Write([]byte{req[sent]}); err != nil {
						results <- result{time.Since(opened), <-answered, sent, true}
						return
					}
					sent++
				}
			}
			results <- result{time.Since(opened), "", sent, false} // never cut
		})
	}

	// The ordinary client, on its own kept-alive connection, until every
	// slow connection has ended.
	done := make(chan struct{})
	var served, failed int
	go func() {
		defer close(done)
		for time.Since(start) < bound {
			if len(results) == conns {
				return
			}
			req, _ := http.NewRequest("GET", s.base+"/api/v1/user", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				failed++
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				served++
			} else {
				failed++
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	wg.Wait()
	<-done
	close(results)
	var cutTimes []time.Duration
	answers := map[string]int{}
	for r := range results {
		if !r.cut {
			t.Errorf("a slow connection was not cut after %v (%d bytes sent)", r.cutAfter, r.sent)
			continue
		}
		cutTimes = append(cutTimes, r.cutAfter)
		answers[r.answer]++
	}
	if len(cutTimes) != conns {
		t.Fatalf("%d of %d slow connections cut", len(cutTimes), conns)
	}
	for a := range answers {
		if a != "" && a != "HTTP/1.1 408 Request Timeout" {
			t.Errorf("a slow connection was answered %q", a)
		}
	}
	if served == 0 || failed > 0 {
		t.Fatalf("the ordinary client: %d served, %d failed during the attack", served, failed)
	}
	slices.Sort(cutTimes)
	t.Logf("%d slow connections, all cut: after %v (fastest), %v (median), %v (slowest); answers %v; the ordinary client got %d of %d answers (200)",
		conns, cutTimes[0].Round(time.Millisecond), cutTimes[conns/2].Round(time.Millisecond), cutTimes[conns-1].Round(time.Millisecond),
		answers, served, served+failed)
}

// randomKey is a string of an API key's shape: zec_ and 42 base62
// characters. Its last 6 characters are random too, so its checksum holds
// with a chance of 1 in 62^6 (about 1.8e-11).
func randomKey(rnd *mrand.Rand) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := []byte("zec_")
	for range 42 {
		b = append(b, alphabet[rnd.IntN(62)])
	}
	return string(b)
}

// withChecksum replaces the last 6 characters of key with the base62
// CRC-32 of its random part, as the service writes it: the shape of a real
// key that no account holds.
func withChecksum(key string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	random := key[4:40]
	n := uint64(crc32.ChecksumIEEE([]byte(random)))
	sum := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		sum[i] = alphabet[n%62]
		n /= 62
	}
	return key[:40] + string(sum)
}

// keySeries are the identity cache's lookup counters for API keys.
func keySeries(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for s, v := range m {
		if strings.HasPrefix(s, "zectre_auth_cache_lookups_total{") && strings.Contains(s, `kind="key"`) {
			out[s] = v
		}
	}
	return out
}

// TestHostileRandomKeyFlood: tens of thousands of distinct random strings
// of an API key's shape are all 401 INVALID_API_KEY, and not one of them is
// looked up: the CRC-32 checksum in the key's last 6 characters refuses
// them before the cache or the database is asked. A key whose checksum
// holds but that no account has shows what a lookup looks like.
func TestHostileRandomKeyFlood(t *testing.T) {
	s := start(t, t.TempDir(), env())
	_, key := s.account("flood@example.com")
	if st := s.whoami("X-API-Key", key); st != 200 {
		t.Fatalf("the real key: %d", st)
	}
	before := scrape(t, s.admin+"/metrics")

	const flood, workers = 20000, 8
	jobs := make(chan string, flood)
	rnd := mrand.New(mrand.NewPCG(5, 6))
	seen := map[string]bool{}
	for len(seen) < flood {
		k := randomKey(rnd)
		if !seen[k] {
			seen[k] = true
			jobs <- k
		}
	}
	close(jobs)
	paths := []string{"/api/v1/user", "/api/v1/auth/verify", "/api/v1/api-keys"}
	var got401, other atomic.Int64
	var firstOther atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			i := w
			for k := range jobs {
				i++
				req, _ := http.NewRequest("GET", s.base+paths[i%len(paths)], nil)
				if i%2 == 0 {
					req.Header.Set("X-API-Key", k)
				} else {
					req.Header.Set("Authorization", "Bearer "+k)
				}
				resp, err := c.Do(req)
				if err != nil {
					other.Add(1)
					firstOther.CompareAndSwap(nil, err.Error())
					continue
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 401 && bytes.Contains(raw, []byte(`"INVALID_API_KEY"`)) {
					got401.Add(1)
				} else {
					other.Add(1)
					firstOther.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, raw))
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if got401.Load() != flood {
		t.Fatalf("%d of %d random keys answered 401 INVALID_API_KEY; first other answer: %v", got401.Load(), flood, firstOther.Load())
	}
	after := scrape(t, s.admin+"/metrics")
	if b, a := keySeries(before), keySeries(after); !maps.Equal(b, a) {
		t.Fatalf("the flood moved the key lookups:\nbefore %v\nafter  %v", b, a)
	}
	t.Logf("%d random keys: all 401 in %v (%d clients); key lookups before and after: %v",
		flood, elapsed.Round(time.Millisecond), workers, keySeries(after))

	// One key with a valid checksum that no account has: the store is asked
	// once, then the negative entry answers.
	forged := withChecksum(randomKey(rnd))
	for range 3 {
		if st := s.whoami("X-API-Key", forged); st != 401 {
			t.Fatalf("a checksum-valid unknown key: %d", st)
		}
	}
	m := scrape(t, s.admin+"/metrics")
	storeMiss := `zectre_auth_cache_lookups_total{kind="key",result="miss",tier="store"}`
	if d := m[storeMiss] - after[storeMiss]; d != 1 {
		t.Fatalf("a checksum-valid unknown key sent 3 times: %v store lookups, want 1\n%v", d, keySeries(m))
	}
	if st := s.whoami("X-API-Key", key); st != 200 {
		t.Fatalf("the real key after the flood: %d", st)
	}
	s.stillServing()
}

// TestHostileUnknownKIDFlood: well-formed RS256 tokens, each naming a
// random kid, against the binary with a real JWKS server: all 401, and the
// JWKS server sees no more fetches than the limit allows (one at start,
// a burst of 2, then one per 10 s, and one request that may wait for the
// next slot). authn's TestJWKSUnknownKIDFlood checks the limiter itself.
func TestHostileUnknownKIDFlood(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "catalog-1", "use": "sig", "alg": "RS256",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	var fetches atomic.Int64
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	defer jwks.Close()
	s := startWithConfig(t, fmt.Sprintf("[auth]\ncatalog_jwks_url = %q\n", jwks.URL))

	sign := func(kid, sub string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": "https://catalog.test", "sub": sub, "email": sub + "@example.com",
			"exp": time.Now().Add(time.Hour).Unix(),
		})
		tok.Header["kid"] = kid
		raw, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	good := sign("catalog-1", "cat-1")
	if st := s.whoami("Authorization", "Bearer "+good); st != 200 {
		t.Fatalf("a token of the published key: %d", st)
	}
	const flood, workers = 2000, 8
	tokens := make(chan string, flood)
	for i := range flood {
		kid := make([]byte, 12)
		rand.Read(kid)
		tokens <- sign(b64(kid), fmt.Sprintf("cat-flood-%d", i))
	}
	close(tokens)
	atStart := fetches.Load()
	start := time.Now()
	var got401, other atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			c := &http.Client{Timeout: 30 * time.Second}
			for tok := range tokens {
				req, _ := http.NewRequest("GET", s.base+"/api/v1/user", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := c.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 401 && bytes.Contains(raw, []byte(`"INVALID_TOKEN"`)) {
					got401.Add(1)
				} else {
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	during := fetches.Load() - atStart
	if got401.Load() != flood {
		t.Fatalf("%d of %d tokens with unknown kids answered 401 INVALID_TOKEN", got401.Load(), flood)
	}
	// The burst of 2, one per 10 s elapsed, and one request that may have
	// reserved the next slot within its wait bound. The start fetch was
	// before atStart.
	limit := 2 + int64(elapsed/(10*time.Second)) + 1
	if during > limit {
		t.Fatalf("%d unknown kids caused %d JWKS fetches in %v, want at most %d", flood, during, elapsed, limit)
	}
	if st := s.whoami("Authorization", "Bearer "+sign("catalog-1", "cat-2")); st != 200 {
		t.Fatalf("a token of the published key after the flood: %d", st)
	}
	s.stillServing()
	t.Logf("%d tokens with unknown kids: all 401 in %v; JWKS fetches: %d at start, %d during the flood (bound %d)",
		flood, elapsed.Round(time.Millisecond), atStart, during, limit)
}
