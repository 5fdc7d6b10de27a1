package cache_test

import (
	"context"
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/cache"
)

// The Redis URL rules are stated once: the configuration reports
// RedisURLProblems, and Open refuses a URL with the same sentences, before
// it dials anything and without quoting the URL.
func TestRedisURLProblems(t *testing.T) {
	st := sqliteStore(t)
	for _, tc := range []struct {
		name, url, want string // want: a part of the first problem; "" none
	}{
		{"single", "redis://:secret@cache:6379/1", ""},
		{"unix", "unix:///run/redis.sock", ""},
		{"cluster", "rediss://:secret@n1:6379?addr=n2:6379&addr=[fd00::3]:6379&dial_timeout=2s", ""},
		{"sentinel", "redis://:secret@s1:26379/2?addr=s2:26379&master_set=m", ""},
		{"no scheme", "cache:6379", "not a URL"},
		{"not parsable", "redis://u:secret@[::1", "not a valid URL"},
		{"other scheme", "http://cache:6379", "unsupported scheme"},
		{"no host", "redis://", "missing host"},
		{"no socket path", "unix://", "missing socket path"},
		{"path not a database", "redis://:secret@cache:6379/zero", "database number"},
		{"unknown parameter", "redis://:secret@s1:26379?master-set=m", `unknown query parameter "master-set"`},
		{"unquotable parameter", "redis://s1:6379?secret%21", "unknown query parameter (known:"},
		{"addr without port", "redis://:secret@n1:6379?addr=n2", "each addr must be host:port"},
		{"addr without host", "redis://:secret@n1:6379?addr=:7000", "each addr must be host:port"},
		{"empty master_set", "redis://:secret@s1:26379?master_set=", "master_set must name one"},
		{"unix with addr", "unix:///tmp/secret.sock?addr=n2:6379", "unix:// takes no addr"},
		{"unix with master_set", "unix:///tmp/secret.sock?master_set=m", "unix:// takes no addr or master_set"},
		{"cache off", "redis://:secret@cache:6379?client_cache=0", "client-side caching"},
		{"resp2", "redis://:secret@cache:6379?protocol=2", "client-side caching"},
		{"cluster database", "redis://:secret@n1:6379/1?addr=n2:6379", "only database 0"},
		{"cluster database query", "redis://n1:6379?addr=n2:6379&db=3", "only database 0"},
		{"bad db", "redis://cache:6379?db=x", "db must be a database number"},
		{"bad timeout", "redis://cache:6379?dial_timeout=5", "dial_timeout must be a positive duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := cache.RedisURLProblems(tc.url)
			if tc.want == "" {
				if len(problems) > 0 {
					t.Fatalf("RedisURLProblems(%q) = %q, want none", tc.url, problems)
				}
				return
			}
			if len(problems) == 0 || !strings.Contains(problems[0], tc.want) {
				t.Fatalf("RedisURLProblems(%q) = %q, want a first problem with %q", tc.url, problems, tc.want)
			}
			for _, p := range problems {
				if containsSecret(p) {
					t.Fatalf("RedisURLProblems(%q) quotes the password: %q", tc.url, p)
				}
			}
			c, err := cache.Open(context.Background(), st, cache.Options{RedisURL: tc.url})
			if err == nil {
				c.Close()
				t.Fatalf("Open(%q) succeeded", tc.url)
			}
			if want := "cache: redis url: " + strings.Join(problems, "; "); err.Error() != want {
				t.Fatalf("Open(%q) = %q, want %q", tc.url, err, want)
			}
		})
	}
}
