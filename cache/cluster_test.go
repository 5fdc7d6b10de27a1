package cache_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/cache/cachetest"
	"github.com/zectre/zectre-auth/store"
	"github.com/zectre/zectre-auth/store/storetest"
)

// TestCluster runs two replicas (two cache.Stores, each with its own Redis
// client) over one PostgreSQL database and a three-master Redis Cluster
// named by a URL with addr parameters. Keys, users and rate-limit counters
// spread over every master; fills, hits, invalidations and shared counters
// must work on each.
func TestCluster(t *testing.T) {
	c := cachetest.StartCluster(t)
	prefix := cachetest.Prefix(t)
	checkReplicas(t, c.URL, prefix, 24, func(key string) string { return c.NodeOf(t, key) }, c.Addrs)

	// What the cache wrote really is on every master.
	perNode := c.KeysPerNode(t, prefix+"*")
	t.Logf("keys per master: %v", perNode)
	for _, addr := range c.Addrs {
		if perNode[addr] == 0 {
			t.Errorf("no key of the test on master %s: %v", addr, perNode)
		}
	}
}

// A single node of a cluster is enough: the client asks it for the others.
func TestClusterSeedNode(t *testing.T) {
	c := cachetest.StartCluster(t)
	checkReplicas(t, "redis://"+c.Addrs[1], cachetest.Prefix(t), 12, func(key string) string { return c.NodeOf(t, key) }, c.Addrs)
}

// A cluster refuses what would not work on it: databases other than 0, and
// addresses without a port (which the client would silently replace).
func TestClusterURLRefused(t *testing.T) {
	st := sqliteStore(t)
	for _, url := range []string{
		"redis://:secret@127.0.0.1:1/2?addr=127.0.0.1:2",
		"redis://:secret@127.0.0.1:1?addr=127.0.0.2",
		"redis://:secret@127.0.0.1:1?addr=:7000",
		"redis://:secret@127.0.0.1:1?master_set=",
		"unix:///tmp/secret.sock?addr=127.0.0.1:2",
		"unix:///tmp/secret.sock?master_set=m",
		"redis://:secret@127.0.0.1:1?addr=127.0.0.1:2&client_cache=0",
		"redis://:secret@127.0.0.1:1?master_set=m&protocol=2",
	} {
		c, err := cache.Open(context.Background(), st, cache.Options{RedisURL: url})
		if err == nil {
			c.Close()
			t.Fatalf("Open(%q) succeeded", url)
		}
		t.Logf("Open(%q): %v", url, err)
		if containsSecret(err.Error()) {
			t.Fatalf("Open(%q) error leaks the password: %v", url, err)
		}
	}
}

// checkReplicas opens two replicas on redisURL under prefix, over a fresh
// PostgreSQL database, with n users of one key each, and checks through
// them that lookups fill Redis and hit it, that changes made through one
// reach the other by invalidation, and that rate-limit counters are shared.
// nodeOf names the Redis node holding a key; every one of nodes must hold
// some entries and counters, so the checks covered them all.
func checkReplicas(t *testing.T, redisURL, prefix string, n int, nodeOf func(key string) string, nodes []string) {
	t.Helper()
	ctx := context.Background()
	db := openStore(t, storetest.PostgresURL(t))
	recA, recB := newRecorder(), newRecorder()
	csA, csB := &countingStore{Store: db}, &countingStore{Store: db}
	a := openCache(t, csA, cache.Options{RedisURL: redisURL, Prefix: prefix, Observer: recA})
	b := openCache(t, csB, cache.Options{RedisURL: redisURL, Prefix: prefix, Observer: recB})

	type account struct {
		u store.User
		k store.APIKey
	}
	// At least n accounts, and more until every node holds a key entry and
	// a user entry.
	var accounts []account
	keysOn, usersOn := map[string]int{}, map[string]int{}
	everyNode := func() bool {
		for _, node := range nodes {
			if keysOn[node] == 0 || usersOn[node] == 0 {
				return false
			}
		}
		return true
	}
	for len(accounts) < n || !everyNode() {
		if len(accounts) >= n+200 {
			t.Fatalf("entries of %d accounts miss a node: keys %v, users %v", len(accounts), keysOn, usersOn)
		}
		u, k := seed(t, db)
		accounts = append(accounts, account{u, k})
		keysOn[nodeOf(prefix+"key:"+hexDigest(k.Digest))]++
		usersOn[nodeOf(prefix+"user:"+u.ID)]++
	}
	n = len(accounts)
	t.Logf("%d accounts; key entries per node %v, user entries per node %v", n, keysOn, usersOn)

	lookup := func(c *cache.Store, ac account) {
		t.Helper()
		k, err := c.APIKeyByDigest(ctx, ac.k.Digest)
		if err != nil || k.ID != ac.k.ID {
			t.Fatalf("APIKeyByDigest = %+v, %v; want key %s", k, err, ac.k.ID)
		}
		u, err := c.UserByID(ctx, ac.u.ID)
		if err != nil || u.ID != ac.u.ID || u.Disabled {
			t.Fatalf("UserByID = %+v, %v; want enabled user %s", u, err, ac.u.ID)
		}
	}

	// Fill: A reads each key and user from the store once and fills Redis.
	for _, ac := range accounts {
		for range 3 {
			lookup(a, ac)
		}
	}
	if got := csA.keys.Load() + csA.users.Load(); got != int64(2*n) {
		t.Errorf("replica A read the store %d times for %d entries, want once each", got, 2*n)
	}
	// Hit: B finds every entry in Redis and never reads the store.
	for _, ac := range accounts {
		for range 3 {
			lookup(b, ac)
		}
	}
	seen := recB.take()
	if csB.keys.Load() != 0 || csB.users.Load() != 0 {
		t.Errorf("replica B read the store (%d keys, %d users) for entries replica A put in Redis",
			csB.keys.Load(), csB.users.Load())
	}
	if seen["key/redis/hit"] != n || seen["user/redis/hit"] != n {
		t.Errorf("replica B's lookups: %v; want %d Redis hits per kind", seen, n)
	}

	// Invalidations: a change through A reaches B, for entries on every
	// node, without B reading the store.
	delays := map[string][]time.Duration{}
	for _, ac := range accounts {
		if _, err := a.DeleteAPIKey(ctx, ac.u.ID, ac.k.ID); err != nil {
			t.Fatal(err)
		}
		took := waitFor(t, "key deletion on replica B", 5*time.Second, func() bool {
			_, err := b.APIKeyByDigest(ctx, ac.k.Digest)
			return errors.Is(err, store.ErrNotFound)
		})
		node := nodeOf(prefix + "key:" + hexDigest(ac.k.Digest))
		delays[node] = append(delays[node], took)

		if _, err := a.SetDisabled(ctx, ac.u.Email, true); err != nil {
			t.Fatal(err)
		}
		took = waitFor(t, "disable on replica B", 5*time.Second, func() bool {
			u, err := b.UserByID(ctx, ac.u.ID)
			return err == nil && u.Disabled
		})
		node = nodeOf(prefix + "user:" + ac.u.ID)
		delays[node] = append(delays[node], took)
	}
	for _, node := range nodes {
		d := delays[node]
		slices.Sort(d)
		if len(d) == 0 {
			t.Errorf("no change was published on node %s", node)
			continue
		}
		t.Logf("node %s: %d changes reached replica B after median %v, max %v", node, len(d), d[len(d)/2], d[len(d)-1])
	}
	if csB.keys.Load() != 0 || csB.users.Load() != 0 {
		t.Errorf("replica B read the store to learn of the changes")
	}

	// Rate limits: both replicas count in one window per counter, on every
	// node.
	ca, cb := a.Counter(), b.Counter()
	// Two counters per node: keys are drawn until each node has its two.
	counted := map[string]int{}
	run := uuid.NewString()[:8]
	for i := 0; slices.ContainsFunc(nodes, func(node string) bool { return counted[node] < 2 }); i++ {
		if i >= 500 {
			t.Fatalf("counters miss a node: %v", counted)
		}
		key := fmt.Sprintf("test:%s:%d", run, i)
		node := nodeOf(prefix + "rl:" + key)
		if counted[node] >= 2 {
			continue
		}
		counted[node]++
		for range 2 {
			if _, _, err := ca.Incr(ctx, key, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		got, left, err := cb.Incr(ctx, key, time.Minute)
		if err != nil || got != 3 || left <= 0 || left > time.Minute {
			t.Fatalf("counter %s after 2 counts on A and 1 on B: %d, %v, %v; want 3 in a 1m window", key, got, left, err)
		}
		for _, c := range []interface {
			Get(context.Context, string) (int64, time.Duration, error)
		}{ca, cb} {
			got, left, err := c.Get(ctx, key)
			if err != nil || got != 3 || left <= 0 || left > time.Minute {
				t.Fatalf("Get %s: %d, %v, %v; want 3 in a 1m window", key, got, left, err)
			}
		}
	}
	t.Logf("counters per node: %v", counted)

	// None of it failed in Redis (a failure falls back silently).
	for name, r := range map[string]*recorder{"A": recA, "B": recB} {
		errs, ups := r.state()
		if errs != 0 || !slices.Equal(ups, []bool{true}) {
			t.Errorf("replica %s: %d Redis errors, Redis up/down %v", name, errs, ups)
		}
	}
}

// PingRedis (what /readyz reports) asks every master: one that does not
// answer makes Redis unreachable, though the others answer.
func TestClusterPingEveryNode(t *testing.T) {
	c := cachetest.StartCluster(t)
	st := openCache(t, sqliteStore(t), cache.Options{RedisURL: c.URL, Prefix: cachetest.Prefix(t)})
	ctx := context.Background()
	if err := st.PingRedis(ctx); err != nil {
		t.Fatalf("PingRedis with every node up: %v", err)
	}
	c.Pause(t, c.Addrs[2], 3*time.Second)
	err := st.PingRedis(ctx)
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), c.Addrs[2]) {
		t.Fatalf("PingRedis with %s paused = %v, want it named as unavailable", c.Addrs[2], err)
	}
}
