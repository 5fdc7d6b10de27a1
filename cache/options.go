package cache

import (
	"log/slog"
	"time"
)

// Defaults of Options. The TTLs bound how long a lost invalidation can leave
// a stale entry; invalidations, not TTLs, are what carry revocations.
const (
	// DefaultPrefix starts every Redis key the cache writes.
	DefaultPrefix = "zectre-auth:"
	// DefaultSize sizes the front tier: room for at least this many API
	// keys, and for half as many users. Keys are packed outside the Go heap
	// (see keyTable) in about 100 bytes each, in a table that never holds
	// less than 32 MiB, the least its library allows: about 330 000 keys,
	// taken as keys arrive (BenchmarkFrontMemory100kKeys: 100 000 keys take
	// 3 MiB of heap and about 10 MiB outside it). A user entry takes about
	// 300 bytes of heap with the cache's bookkeeping, so 65 536 users about
	// 20 MiB. With Redis add the Redis client's own cache
	// (DefaultRedisClientCacheBytes per connection).
	DefaultSize = 1 << 17
	// DefaultTTL is the life of an entry for a key or user that exists, in
	// Redis and in the front tier (when invalidations cover it).
	DefaultTTL = 10 * time.Minute
	// DefaultNegativeTTL is the life of a "no such key/user" entry and of the
	// tombstone a deletion leaves.
	DefaultNegativeTTL = time.Minute
	// DefaultFallbackTTL is the front-tier life of an entry no invalidation
	// can reach: read from the store while Redis is down, or with neither
	// Redis nor a change watch (PostgreSQL without Redis).
	DefaultFallbackTTL = time.Second
	// DefaultRedisTimeout bounds each Redis call on the lookup path and each
	// publication of a change.
	DefaultRedisTimeout = 500 * time.Millisecond
	// DefaultStoreTimeout bounds each store read on the lookup path.
	DefaultStoreTimeout = 3 * time.Second
	// DefaultBackoff is how long lookups skip Redis after a Redis error, so
	// that an outage costs one timeout, not one per request.
	DefaultBackoff = time.Second
	// DefaultWatchInterval is how often a store that is a
	// store.ChangeWatcher (SQLite) is asked for changes by other processes.
	DefaultWatchInterval = 100 * time.Millisecond
	// DefaultRepublishInterval is how often changes that could not be
	// published to Redis are tried again.
	DefaultRepublishInterval = time.Second

	// DefaultRedisDialTimeout and DefaultRedisConnTimeout replace the Redis
	// client's defaults (5 s and 10 s), which would hold requests far too
	// long when Redis stops answering. A URL's dial_timeout and
	// write_timeout parameters win over them.
	DefaultRedisDialTimeout = time.Second
	DefaultRedisConnTimeout = time.Second
	// DefaultRedisClientCacheBytes is the Redis client's own cache per
	// connection (its default is 128 MiB). Warm lookups are answered by the
	// front tier, so this cache only serves the refills after a front-tier
	// eviction. The client opens 1 to 4 connections, by GOMAXPROCS, to a
	// single Redis or a Sentinel-managed master, and one to each master of
	// a Redis Cluster.
	DefaultRedisClientCacheBytes = 8 << 20
	// DefaultRedisSentinelRefresh is how often a client behind Sentinels
	// asks them for the current master, besides listening for failovers:
	// a missed announcement would otherwise leave it on a demoted master.
	DefaultRedisSentinelRefresh = 5 * time.Second
)

// Options configure Open. Zero values take the Default* constants.
type Options struct {
	// RedisURL is redis://, rediss:// or unix:// in the syntax of the Redis
	// client's ParseURL: a single Redis, a Redis Cluster (one node, or
	// seeds in addr query parameters) or Sentinels (master_set=NAME). See
	// redisOptions. Empty: in-process only, for one replica.
	RedisURL string
	// Prefix starts every Redis key (entries and counters).
	Prefix string
	// Size sizes the front tier: room for at least Size API keys (see
	// DefaultSize), and for Size/2 users.
	Size int
	// Log receives Redis outages and failed publications. Default: discard.
	Log *slog.Logger
	// Observer learns of lookups per tier, Redis errors and outages, and
	// failed store reads, for metrics. Default nil: nothing is observed.
	Observer Observer
	// Changes learns of every change to a key or user the cache learns of,
	// for what holds on to a decision longer than one lookup (open
	// WebSocket tunnels). Default nil: nobody.
	Changes Listener

	// TTL is the life of an entry for an existing key or user (default
	// DefaultTTL).
	TTL time.Duration
	// NegativeTTL is the life of a "none" entry and of a deletion's
	// tombstone (default DefaultNegativeTTL).
	NegativeTTL time.Duration
	// FallbackTTL is the front-tier life of entries no invalidation reaches
	// (default DefaultFallbackTTL).
	FallbackTTL time.Duration
	// RedisTimeout bounds each Redis call (default DefaultRedisTimeout).
	RedisTimeout time.Duration
	// StoreTimeout bounds each store read on a miss (default
	// DefaultStoreTimeout).
	StoreTimeout time.Duration
	// Backoff is how long lookups skip Redis after an error (default
	// DefaultBackoff).
	Backoff time.Duration
	// WatchInterval is the poll interval of a store's change watch (default
	// DefaultWatchInterval).
	WatchInterval time.Duration
	// RepublishInterval is how often failed publications are retried
	// (default DefaultRepublishInterval).
	RepublishInterval time.Duration
}

// Listener learns of changes, after the cache has evicted its own entry,
// so that a lookup made from a callback reads the new state. The calls
// come on the goroutine that learned of the change (the Redis client's
// reader among them) and must return at once.
type Listener interface {
	// KeyChanged: the API key of this digest was created, changed or
	// deleted.
	KeyChanged(digest [32]byte)
	// UserChanged: the user of this id changed (disabled, made admin).
	UserChanged(id string)
	// AllChanged: anything may have changed (the Redis tracking was lost,
	// another process wrote the database).
	AllChanged()
}

type nopListener struct{}

func (nopListener) KeyChanged([32]byte) {}
func (nopListener) UserChanged(string)  {}
func (nopListener) AllChanged()         {}

func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Size <= 0 {
		o.Size = DefaultSize
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Changes == nil {
		o.Changes = nopListener{}
	}
	def(&o.TTL, DefaultTTL)
	def(&o.NegativeTTL, DefaultNegativeTTL)
	def(&o.FallbackTTL, DefaultFallbackTTL)
	def(&o.RedisTimeout, DefaultRedisTimeout)
	def(&o.StoreTimeout, DefaultStoreTimeout)
	def(&o.Backoff, DefaultBackoff)
	def(&o.WatchInterval, DefaultWatchInterval)
	def(&o.RepublishInterval, DefaultRepublishInterval)
	return o
}
