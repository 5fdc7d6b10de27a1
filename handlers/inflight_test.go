package handlers_test

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/cache/cachetest"
)

// inflightParams make a hash slow enough that parallel attempts are really
// in flight together (the hashing slots are few, so most of them queue).
var inflightParams = authn.PasswordParams{Memory: 4 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// counters are the two Counter kinds the failure limits run on.
func counters(t *testing.T, fn func(t *testing.T, newCounter func(t *testing.T) authn.Counter)) {
	t.Run("in-process", func(t *testing.T) {
		fn(t, func(*testing.T) authn.Counter { return cache.NewLocalCounter(1024) })
	})
	t.Run("redis", func(t *testing.T) {
		url := cachetest.RedisURL(t)
		fn(t, func(t *testing.T) authn.Counter {
			opt, err := rueidis.ParseURL(url)
			if err != nil {
				t.Fatal(err)
			}
			c, err := rueidis.NewClient(opt)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			return cache.NewRedisCounter(c, cachetest.Prefix(t))
		})
	})
}

// parallel sends n requests at once and returns how many got each
// status and code, checking every 429's Retry-After.
func (s *service) parallel(n int, method, path string, body func(i int) any) map[string]int {
	s.t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			r := s.do(method, path, body(i))
			if r.status == http.StatusTooManyRequests {
				if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
					s.t.Errorf("429 with Retry-After %q", r.header.Get("Retry-After"))
				}
			}
			mu.Lock()
			got[strconv.Itoa(r.status)+" "+r.code()]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return got
}

// TestLoginGuessesInFlight: the failure limit holds for attempts in flight.
// 40 parallel wrong passwords against a limit of 5 get exactly 5 guesses
// (5 hashes, 5 INVALID_CREDENTIALS) and 35 RATE_LIMITED, on logins and CLI
// completes, with the in-process counter and with Redis; a right password
// gives its reservation back; tokens and keys issued before keep working.
func TestLoginGuessesInFlight(t *testing.T) {
	const limit, parallel = 5, 40
	counters(t, func(t *testing.T, newCounter func(t *testing.T) authn.Counter) {
		policy := testPolicy()
		policy.FailuresPerAccount = authn.Limit{N: limit, Window: time.Hour}
		clk := &clock{t: time.Now().UTC()}
		api := newTestAPI(t, storeURLForOneStore(t), policy, inflightParams, clk.Now)
		api.Limits.Counter = newCounter(t)
		s := serveAPI(t, api, clk)
		want := map[string]int{"401 INVALID_CREDENTIALS": limit, "429 RATE_LIMITED": parallel - limit}
		same := func(what string, got map[string]int) {
			t.Helper()
			if len(got) != len(want) || got["401 INVALID_CREDENTIALS"] != limit || got["429 RATE_LIMITED"] != parallel-limit {
				t.Fatalf("%s: answers %v, want %v", what, got, want)
			}
		}

		t.Run("login", func(t *testing.T) {
			token := s.signupLogin("ivy@example.com")
			key, _ := s.createKey(token, map[string]any{"name": "k"})
			same("parallel wrong logins", s.parallel(parallel, "POST", "/api/v1/auth/login", func(int) any {
				return map[string]string{"email": "ivy@example.com", "password": "wrong-password"}
			}))
			expect(t, s.do("POST", "/api/v1/auth/login", map[string]string{"email": "ivy@example.com", "password": testPassword}), 429, "RATE_LIMITED")
			expect(t, s.do("GET", "/api/v1/user", nil, "Authorization", "Bearer "+token), 200, "")
			expect(t, s.do("GET", "/api/v1/user", nil, "X-API-Key", key), 200, "")
		})

		t.Run("unknown account", func(t *testing.T) {
			same("parallel logins of nobody", s.parallel(parallel, "POST", "/api/v1/auth/login", func(int) any {
				return map[string]string{"email": "nobody@example.com", "password": "wrong-password"}
			}))
		})

		t.Run("cli complete", func(t *testing.T) {
			s.signupLogin("jay@example.com")
			code := s.do("POST", "/api/v1/auth/cli/initiate", nil).str("code")
			same("parallel wrong completes", s.parallel(parallel, "POST", "/api/v1/auth/cli/complete", func(int) any {
				return map[string]string{"code": code, "email": "jay@example.com", "password": "wrong-password"}
			}))
			expect(t, s.do("POST", "/api/v1/auth/cli/complete", map[string]string{"code": code, "email": "jay@example.com", "password": testPassword}), 429, "RATE_LIMITED")
		})

		t.Run("right password within the limit", func(t *testing.T) {
			s.signupLogin("kim@example.com") // one success: it gives its place back
			got := s.parallel(limit-1, "POST", "/api/v1/auth/login", func(int) any {
				return map[string]string{"email": "kim@example.com", "password": "wrong-password"}
			})
			if got["401 INVALID_CREDENTIALS"] != limit-1 {
				t.Fatalf("failures under the limit: %v", got)
			}
			for range 3 { // successes do not count
				expect(t, s.do("POST", "/api/v1/auth/login", map[string]string{"email": "kim@example.com", "password": testPassword}), 200, "")
			}
			expect(t, s.do("POST", "/api/v1/auth/login", map[string]string{"email": "kim@example.com", "password": "wrong-password"}), 401, "INVALID_CREDENTIALS")
			expect(t, s.do("POST", "/api/v1/auth/login", map[string]string{"email": "kim@example.com", "password": testPassword}), 429, "RATE_LIMITED")
		})
	})
}
