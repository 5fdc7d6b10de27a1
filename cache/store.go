package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/redis/rueidis"
	"golang.org/x/sync/singleflight"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/store"
)

// Store is a store.Store whose hot lookups, APIKeyByDigest and UserByID,
// are answered from memory when warm, and whose writes that change what those
// lookups answer (deleting or creating a key, disabling or promoting a user)
// reach every replica's cache. Every other method goes to the wrapped store.
//
// Tiers: a front tier of decoded entries in process; with Redis, a shared
// tier of encoded entries that every replica reads with client-side caching,
// so that Redis tells each replica which entries to drop when another one
// publishes a change; and the store. Unknown keys are cached too, so a flood
// of made-up keys does not reach the database.
//
// Values returned by APIKeyByDigest and UserByID are shared with the cache:
// callers must not modify what they point to (Scopes, ExpiresAt, Name).
// UserByID through the cache never carries PasswordHash (it is empty, and it
// is never written to Redis); password checks use UserByEmail, which is not
// cached. APIKeyByDigest carries only what a credential check reads: ID,
// UserID, Scopes and ExpiresAt (not Name, Prefix, Digest or the times), so
// that a warm key costs little memory; read the store for the rest.
//
// Without Redis the cache serves one replica: a SQLite store tells it of
// changes made by other processes (Run must be running), and with PostgreSQL
// entries live only DefaultFallbackTTL. More than one replica needs Redis.
// With Redis, a change made in another process (the admin command) reaches
// the replicas only if that process makes it through a Store opened with the
// same RedisURL and Prefix: writing to the database alone publishes nothing
// until the TTLs run out.
type Store struct {
	store.Store

	opt     Options
	front   *front
	redis   rueidis.Client // nil without Redis
	health  health
	flights singleflight.Group
	local   *LocalCounter
	counter authn.Counter

	watcher  store.ChangeWatcher // nil unless in-process only over a store that has one
	watching atomic.Bool         // the watch is running: in-process entries may live long

	pendingMu sync.Mutex
	pending   pending // publications that failed, to retry
}

var (
	_ store.Store     = (*Store)(nil)
	_ authn.Directory = (*Store)(nil)
)

// Open wraps st. With opt.RedisURL set it connects to Redis and fails if
// Redis does not answer now; later outages only slow lookups down to the
// store. Close closes the Redis connection, not st.
func Open(ctx context.Context, st store.Store, opt Options) (*Store, error) {
	if st == nil {
		return nil, errors.New("cache: no store to wrap")
	}
	opt = opt.withDefaults()
	s := &Store{
		Store:  st,
		opt:    opt,
		front:  newFront(opt.Size),
		health: health{backoff: opt.Backoff, log: opt.Log, obs: opt.Observer},
		local:  NewLocalCounter(DefaultLocalCounterSize),
	}
	s.counter = s.local
	if opt.RedisURL == "" {
		s.watcher, _ = st.(store.ChangeWatcher)
		return s, nil
	}
	client, err := newRedisClient(ctx, opt.RedisURL, opt.RedisTimeout, s.invalidated)
	if err != nil {
		return nil, err
	}
	s.redis = client
	opt.Observer.RedisUp(true)
	// The counter of NewRedisCounter, with what only the Store has: its
	// timeout, the in-process fallback and the lookups' view of Redis.
	c := NewRedisCounter(client, opt.Prefix+counterNS)
	c.timeout, c.fallback, c.health = opt.RedisTimeout, s.local, &s.health
	s.counter = c
	return s, nil
}

// Counter returns the counter rate limits should use: shared through Redis
// when configured, so that N replicas enforce one limit (counting in process
// while Redis is unreachable), else in-process.
func (s *Store) Counter() authn.Counter { return s.counter }

// PingRedis checks that Redis answers; nil without Redis. In a Redis
// Cluster every node the client knows must answer: one master down is part
// of Redis down. Ping (the wrapped store's) checks the database only: the
// cache serves from the database while Redis is down, so Redis is no
// condition of readiness.
func (s *Store) PingRedis(ctx context.Context) error {
	if s.redis == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opt.RedisTimeout)
	defer cancel()
	nodes := s.redis.Nodes()
	if len(nodes) == 0 {
		nodes = map[string]rueidis.Client{"": s.redis}
	}
	for addr, c := range nodes {
		if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
			if addr != "" {
				return fmt.Errorf("%w: redis node %s: %w", store.ErrUnavailable, addr, err)
			}
			return fmt.Errorf("%w: redis: %w", store.ErrUnavailable, err)
		}
	}
	return nil
}

// Run does the cache's background work until ctx ends: watching a SQLite
// store for changes made by other processes (without Redis), and publishing
// again the changes Redis refused (with Redis).
func (s *Store) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if s.watcher != nil {
		// Entries read from here on may live long; those read before the
		// watch took its first look are dropped by the report it makes
		// when it starts.
		s.watching.Store(true)
		wg.Go(func() {
			defer s.watching.Store(false)
			s.watcher.WatchChanges(ctx, s.opt.WatchInterval, func() {
				s.front.evictAll()
				s.opt.Changes.AllChanged()
			})
		})
	}
	if s.redis != nil {
		wg.Go(func() { s.republishLoop(ctx) })
	}
	<-ctx.Done()
	wg.Wait()
}

// Close closes the Redis connection; the wrapped store stays open (its
// owner closes it). The error is always nil: the method has store.Store's
// signature.
func (s *Store) Close() error {
	if s.redis != nil {
		s.redis.Close()
	}
	return nil
}
