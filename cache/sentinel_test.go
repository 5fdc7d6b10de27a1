package cache_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/cache/cachetest"
	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
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

// TestSentinelFailover kills the master under two cache replicas (SIGKILL)
// while they serve lookups. No lookup fails during the failover (they are
// answered from the front tier or the store); once the Sentinel has
// promoted the replica, both cache replicas use the new master again: they
// read what the old one replicated, and a key deleted through one replica
// stops working on the other by invalidation, not by TTL.
func TestSentinelFailover(t *testing.T) {
	g := cachetest.StartSentinelGroup(t, "sentinel-test-pass")
	ctx := context.Background()
	db := openStore(t, storetest.PostgresURL(t))
	prefix := cachetest.Prefix(t)
	recA, recB := newRecorder(), newRecorder()
	a := openCache(t, db, cache.Options{RedisURL: g.URL, Prefix: prefix, Observer: recA})
	b := openCache(t, db, cache.Options{RedisURL: g.URL, Prefix: prefix, Observer: recB})

	type account struct {
		u store.User
		k store.APIKey
	}
	accounts := make([]account, 20)
	for i := range accounts {
		accounts[i].u, accounts[i].k = seed(t, db)
	}
	lookup := func(c *cache.Store, ac account) error {
		k, err := c.APIKeyByDigest(ctx, ac.k.Digest)
		if err == nil && k.ID != ac.k.ID {
			err = fmt.Errorf("key %s for %s", k.ID, ac.k.ID)
		}
		if err == nil {
			_, err = c.UserByID(ctx, ac.u.ID)
		}
		return err
	}
	for _, ac := range accounts {
		for _, c := range []*cache.Store{a, b} {
			if err := lookup(c, ac); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Lookups on both replicas all through the failover.
	var lookups, failed atomic.Int64
	var firstErr atomic.Value
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for _, c := range []*cache.Store{a, b} {
				lookups.Add(1)
				if err := lookup(c, accounts[i%len(accounts)]); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	killed := time.Now()
	g.KillMaster(t)
	g.WaitFailover(t)
	promoted := time.Since(killed)
	// Each replica is back on Redis once it is not in an outage (a replica
	// may never have seen one: its client can reach the new master before
	// any of its calls fails) and has read an entry from the new master.
	recA.take()
	recB.take()
	var sinceA, sinceB map[string]int
	backUp := func(r *recorder, since *map[string]int) bool {
		if *since == nil {
			*since = map[string]int{}
		}
		for k, n := range r.take() {
			(*since)[k] += n
		}
		_, ups := r.state()
		return (len(ups) == 0 || ups[len(ups)-1]) && (*since)["key/redis/hit"] > 0
	}
	for !backUp(recA, &sinceA) || !backUp(recB, &sinceB) {
		if time.Since(killed) > 20*time.Second {
			_, upsA := recA.state()
			_, upsB := recB.state()
			t.Fatalf("not both replicas back on Redis within 20 s: A up/down %v, lookups %v; B up/down %v, lookups %v", upsA, sinceA, upsB, sinceB)
		}
		time.Sleep(time.Millisecond)
	}
	back := time.Since(killed)
	// Entries read from the store meanwhile expire; the lookups then read
	// them from the new master: what the old one replicated.
	time.Sleep(2 * cache.DefaultFallbackTTL)
	close(stop)
	<-done
	seen := recB.take()
	for k, n := range sinceB {
		seen[k] += n
	}
	t.Logf("master killed: promoted after %v, both replicas back on Redis after %v; %d lookups meanwhile, %d failed; replica B since the promotion: %v",
		promoted.Round(time.Millisecond), back.Round(time.Millisecond), lookups.Load(), failed.Load(), seen)
	if failed.Load() != 0 {
		t.Fatalf("%d of %d lookups failed during the failover; first: %v", failed.Load(), lookups.Load(), firstErr.Load())
	}
	if seen["key/redis/hit"] == 0 || seen["key/redis/miss"] != 0 || seen["user/redis/miss"] != 0 {
		t.Errorf("replica B after the failover: %v; want its keys read from the new master, none missing there", seen)
	}

	// A deletion through A reaches B through the new master.
	ac := accounts[0]
	if _, err := a.DeleteAPIKey(ctx, ac.u.ID, ac.k.ID); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, "key deletion on replica B", 5*time.Second, func() bool {
		_, err := b.APIKeyByDigest(ctx, ac.k.Digest)
		return errors.Is(err, store.ErrNotFound)
	})
	t.Logf("a deletion after the failover reached replica B in %v", took)
}
