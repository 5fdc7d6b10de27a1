package cache

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Redis key names under the prefix.
const (
	keyNS     = "key:"  // <prefix>key:<hex digest>
	userNS    = "user:" // <prefix>user:<user id>
	counterNS = "rl:"   // <prefix>rl:<counter key>
)

func (s *Store) keyName(d [32]byte) string {
	var buf [64]byte
	hex.Encode(buf[:], d[:])
	return s.opt.Prefix + keyNS + string(buf[:])
}

func (s *Store) userName(id string) string { return s.opt.Prefix + userNS + id }

// newRedisClient connects to url and checks that Redis answers. onInvalid
// receives the client-side caching invalidations (nil: everything).
func newRedisClient(ctx context.Context, redisURL string, timeout time.Duration, onInvalid func([]rueidis.RedisMessage)) (rueidis.Client, error) {
	opt, err := redisOptions(redisURL)
	if err != nil {
		return nil, err
	}
	opt.OnInvalidations = onInvalid
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("cache: connect to redis: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, max(timeout, opt.Dialer.Timeout))
	defer cancel()
	if err := client.Do(pctx, client.B().Ping().Build()).Error(); err != nil {
		client.Close()
		return nil, fmt.Errorf("cache: redis does not answer: %w", err)
	}
	return client, nil
}

// redisOptions turns a Redis URL into the client's options. The syntax is
// the Redis client's (rueidis.ParseURL), which picks the topology:
//
//   - one address: a single Redis, or a Redis Cluster if that node is one
//     (the client asks it for the cluster's slots);
//   - more addresses in addr query parameters
//     (redis://node1:6379?addr=node2:6379&addr=node3:6379): seeds of a Redis
//     Cluster;
//   - master_set=NAME: the addresses are Sentinels, asked for the master of
//     NAME (redis://:pass@sentinel1:26379?addr=sentinel2:26379&master_set=NAME).
//
// On top of it, the rules of RedisURLProblems (client-side caching cannot
// be turned off, an addr must name its port, a Redis Cluster has only
// database 0, …), and the Sentinels are reached like the master (same dial
// timeout, same TLS, the URL's password as the default user) and asked for
// the master every DefaultRedisSentinelRefresh, in case a failover's
// announcement was missed. Errors never quote the URL: it may hold a
// password.
func redisOptions(redisURL string) (rueidis.ClientOption, error) {
	var opt rueidis.ClientOption
	if p := RedisURLProblems(redisURL); len(p) > 0 {
		return opt, fmt.Errorf("cache: redis url: %s", strings.Join(p, "; "))
	}
	opt, err := rueidis.ParseURL(redisURL)
	if err != nil {
		return opt, fmt.Errorf("cache: redis url: %w", err)
	}
	sentinel := opt.Sentinel.MasterSet != ""
	if opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = DefaultRedisDialTimeout
	}
	if opt.ConnWriteTimeout == 0 {
		opt.ConnWriteTimeout = DefaultRedisConnTimeout
	}
	opt.CacheSizeEachConn = DefaultRedisClientCacheBytes
	if sentinel {
		// ParseURL leaves the connections to the Sentinels without a
		// dial timeout, TLS or password. A Sentinel without a password
		// accepts any for the default user; one with requirepass must
		// share the master's.
		if opt.Dialer.KeepAlive == 0 {
			opt.Dialer.KeepAlive = rueidis.DefaultTCPKeepAlive
		}
		opt.Sentinel.Dialer = opt.Dialer
		if opt.TLSConfig != nil {
			opt.Sentinel.TLSConfig = opt.TLSConfig.Clone()
		}
		opt.Sentinel.Password = opt.Password
		opt.Sentinel.TopologyRefreshInterval = DefaultRedisSentinelRefresh
	}
	return opt, nil
}

// invalidated is the Redis client's OnInvalidations callback. It runs on the
// connection's reader goroutine, so it only bumps counters and drops map
// entries (and tells the listener, whose calls return at once). nil means the connection was lost or Redis was flushed: the
// tracking is gone, so is everything it covered.
func (s *Store) invalidated(msgs []rueidis.RedisMessage) {
	if msgs == nil {
		s.front.evictAll()
		s.opt.Changes.AllChanged()
		return
	}
	for _, m := range msgs {
		name, err := m.ToString()
		if err != nil {
			continue
		}
		rest, ok := strings.CutPrefix(name, s.opt.Prefix)
		if !ok {
			continue
		}
		if h, ok := strings.CutPrefix(rest, keyNS); ok {
			var d [32]byte
			if n, err := hex.Decode(d[:], []byte(h)); err == nil && n == len(d) {
				s.front.evictKey(d)
				s.opt.Changes.KeyChanged(d)
			}
		} else if id, ok := strings.CutPrefix(rest, userNS); ok {
			s.front.evictUser(id)
			s.opt.Changes.UserChanged(id)
		}
	}
}

// health remembers a recent Redis failure, so that lookups go straight to
// the store for a while instead of each waiting for Redis to time out.
type health struct {
	downUntil atomic.Int64 // unix nanoseconds; 0: healthy
	backoff   time.Duration
	log       *slog.Logger
	obs       Observer
}

// ok reports whether Redis should be tried.
func (h *health) ok() bool {
	d := h.downUntil.Load()
	return d == 0 || time.Now().UnixNano() >= d
}

// failed starts (or extends) a back-off. Only the start of an outage is
// logged, not every request during it.
func (h *health) failed(err error) {
	now := time.Now().UnixNano()
	h.obs.RedisError()
	if prev := h.downUntil.Swap(now + int64(h.backoff)); prev == 0 {
		h.obs.RedisUp(false)
		h.log.Error("redis unreachable, answering from the store", "err", err, "backoff", h.backoff)
	}
}

func (h *health) succeeded() {
	if h.downUntil.Load() != 0 && h.downUntil.Swap(0) != 0 {
		h.obs.RedisUp(true)
		h.log.Info("redis reachable again")
	}
}

// redisGet reads name with client-side caching: Redis then tracks the key
// for this connection and reports its next change. It returns the value, the
// time the value has left (negative when unknown), or rueidis.Nil.
func (s *Store) redisGet(ctx context.Context, name string, ttl time.Duration) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opt.RedisTimeout)
	defer cancel()
	res := s.redis.DoCache(ctx, s.redis.B().Get().Key(name).Cache(), ttl)
	v, err := res.ToString()
	if err != nil {
		return "", 0, err
	}
	return v, time.Duration(res.CachePTTL()) * time.Millisecond, nil
}

// redisFill stores v under name only if nothing is there (SET NX): a fill
// must never overwrite a change published in the meantime, tombstones
// included. It reports whether v was stored.
func (s *Store) redisFill(ctx context.Context, name, v string, ttl time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opt.RedisTimeout)
	defer cancel()
	err := s.redis.Do(ctx, s.redis.B().Set().Key(name).Value(v).Nx().PxMilliseconds(ttl.Milliseconds()).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return false, nil
	}
	return err == nil, err
}

// redisPut stores v under name unconditionally: the publication of a change.
// Every replica that read name is sent an invalidation.
func (s *Store) redisPut(ctx context.Context, name, v string, ttl time.Duration) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.RedisTimeout)
	defer cancel()
	return s.redis.Do(ctx, s.redis.B().Set().Key(name).Value(v).PxMilliseconds(ttl.Milliseconds()).Build()).Error()
}
