package cache_test

import (
	"testing"

	"github.com/zectre/zectre-auth/cache/cachetest"
)

// TestSentinel runs two replicas on a master found through a Sentinel
// (master_set in the URL): fills, hits, invalidations across the replicas
// and shared counters, as on a single Redis. The master has a password;
// the Sentinel has none, or the same one: both must work with the URL's.
func TestSentinel(t *testing.T) {
	for _, tc := range []struct {
		name         string
		sentinelAuth bool
	}{
		{"open sentinel", false},
		{"sentinel with the master's password", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := cachetest.StartSentinel(t, "sentinel-test-pass", tc.sentinelAuth)
			one := func(string) string { return "master" }
			checkReplicas(t, url, cachetest.Prefix(t), 2, one, []string{"master"})
		})
	}
}
