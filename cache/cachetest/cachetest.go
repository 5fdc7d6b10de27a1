// Package cachetest gives tests a real Redis: the shared one (RedisURL), or
// a throwaway server they may stop and restart (StartRedis), and a random
// key prefix so that tests sharing a Redis never see each other's keys.
package cachetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

const (
	// RedisURLEnv names the variable holding the URL of a Redis tests may use.
	RedisURLEnv = "ZECTRE_AUTH_TEST_REDIS_URL"
	// DefaultRedisURL is used when RedisURLEnv is unset.
	DefaultRedisURL = "redis://127.0.0.1:6379"
	// redisServer is used when redis-server is not on PATH.
	redisServer = "/usr/bin/redis-server"
)

// RedisURL returns the URL of the shared test Redis after checking that it
// answers. If it does not, the test is skipped, unless CI=true, where it
// fails: CI must not go green without having run the Redis tests.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv(RedisURLEnv)
	if url == "" {
		url = DefaultRedisURL
	}
	if err := ping(url); err != nil {
		unavailable(tb, fmt.Sprintf("Redis at %s (set %s)", redact(url), RedisURLEnv), err)
	}
	return url
}

// Prefix returns a fresh random key prefix, such as "zectre-auth-test:1f2e…:".
// Keys the cache writes carry TTLs, so none outlives the test by long.
func Prefix(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("cachetest: random prefix: %v", err)
	}
	return "zectre-auth-test:" + hex.EncodeToString(b) + ":"
}

// StartRedis runs a throwaway redis-server on a free loopback port, without
// persistence, and returns its URL. stop kills it (as a crash would); restart
// starts it again, empty, on the same port and waits until it answers. The
// server is killed when the test ends. Without a redis-server binary the
// test is skipped, unless CI=true, where it fails.
func StartRedis(tb testing.TB) (url string, stop func(), restart func()) {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		bin = redisServer
		if _, err := os.Stat(bin); err != nil {
			unavailable(tb, "redis-server", err)
		}
	}
	port := freePort(tb)
	url = "redis://127.0.0.1:" + strconv.Itoa(port)

	var (
		mu  sync.Mutex
		cmd *exec.Cmd
	)
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		if cmd == nil {
			return
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cmd = nil
	}
	start := func() {
		mu.Lock()
		defer mu.Unlock()
		if cmd != nil {
			return
		}
		c := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--protected-mode", "no")
		if err := c.Start(); err != nil {
			tb.Fatalf("cachetest: start redis-server: %v", err)
		}
		cmd = c
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := ping(url)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				tb.Fatalf("cachetest: redis-server on port %d does not answer: %v", port, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	tb.Cleanup(stop)
	start()
	return url, stop, start
}

// freePort asks the kernel for a free port. Another process could take it
// before redis-server binds it; tests accept that small risk.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("cachetest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func ping(url string) error {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return err
	}
	opt.Dialer.Timeout = time.Second
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Do(ctx, c.B().Ping().Build()).Error()
}

func unavailable(tb testing.TB, what string, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("cachetest: %s is unavailable and CI=true requires it: %v", what, err)
	}
	tb.Skipf("cachetest: SKIPPING Redis tests: %s is unavailable: %v", what, err)
}

// redact drops a password from a URL for messages.
func redact(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}
