package cache

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/store"
)

// incrScript counts one event in a fixed window: the window's length is set
// by the first event (or whenever the key has no expiry), and later events
// do not extend it. It returns the count and the milliseconds left.
var incrScript = rueidis.NewLuaScript(`
local n = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
	left = tonumber(ARGV[1])
	redis.call('PEXPIRE', KEYS[1], left)
end
return {n, left}
`)

// decrScript takes one back from a window that is still open: DECR keeps
// the key's expiry, and a key that is gone (the window ended) is not
// recreated without one.
var decrScript = rueidis.NewLuaScript(`
local n = tonumber(redis.call('GET', KEYS[1]))
if n and n > 0 then
	return redis.call('DECR', KEYS[1])
end
return 0
`)

// RedisCounter is a Counter in Redis, so that every replica counts towards
// one limit. Each Incr and each Decr is one atomic script run, so a count
// compared with a limit is exact across replicas.
type RedisCounter struct {
	client  rueidis.Client
	prefix  string
	timeout time.Duration
	// fallback counts while Redis is unreachable (nil: the error is
	// returned). Limits then hold per replica instead of across them, which
	// keeps logins working without lifting the limits.
	fallback authn.Counter
	health   *health // shared with the Store's lookups; may be nil
}

var _ authn.Counter = (*RedisCounter)(nil)

// NewRedisCounter returns a Counter keeping its windows under prefix in
// client's Redis. Errors wrap store.ErrUnavailable.
func NewRedisCounter(client rueidis.Client, prefix string) *RedisCounter {
	return &RedisCounter{client: client, prefix: prefix, timeout: DefaultRedisTimeout}
}

// Incr implements Counter.
func (c *RedisCounter) Incr(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error) {
	if c.skip() {
		return c.fallback.Incr(ctx, key, window)
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ms := max(window.Milliseconds(), 1)
	vals, err := incrScript.Exec(rctx, c.client, []string{c.prefix + key}, []string{fmt.Sprint(ms)}).AsIntSlice()
	if err == nil && len(vals) != 2 {
		err = fmt.Errorf("cache: counter script returned %d values", len(vals))
	}
	if err != nil {
		if c.failed(ctx, err) {
			return c.fallback.Incr(ctx, key, window)
		}
		return 0, 0, fmt.Errorf("%w: redis counter: %w", store.ErrUnavailable, err)
	}
	c.succeeded()
	return vals[0], time.Duration(vals[1]) * time.Millisecond, nil
}

// Decr implements Counter.
func (c *RedisCounter) Decr(ctx context.Context, key string) error {
	if c.skip() {
		return c.fallback.Decr(ctx, key)
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := decrScript.Exec(rctx, c.client, []string{c.prefix + key}, nil).Error(); err != nil {
		if c.failed(ctx, err) {
			return c.fallback.Decr(ctx, key)
		}
		return fmt.Errorf("%w: redis counter: %w", store.ErrUnavailable, err)
	}
	c.succeeded()
	return nil
}

// Get implements Counter.
func (c *RedisCounter) Get(ctx context.Context, key string) (int64, time.Duration, error) {
	if c.skip() {
		return c.fallback.Get(ctx, key)
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	k := c.prefix + key
	res := c.client.DoMulti(rctx, c.client.B().Get().Key(k).Build(), c.client.B().Pttl().Key(k).Build())
	n, err := res[0].AsInt64()
	if rueidis.IsRedisNil(err) {
		c.succeeded()
		return 0, 0, nil
	}
	var left int64
	if err == nil {
		left, err = res[1].AsInt64()
	}
	if err != nil {
		if c.failed(ctx, err) {
			return c.fallback.Get(ctx, key)
		}
		return 0, 0, fmt.Errorf("%w: redis counter: %w", store.ErrUnavailable, err)
	}
	c.succeeded()
	if left < 0 { // expired between the two commands, or no expiry
		return 0, 0, nil
	}
	return n, time.Duration(left) * time.Millisecond, nil
}

// skip reports whether Redis is known to be down and there is a fallback.
func (c *RedisCounter) skip() bool {
	return c.fallback != nil && c.health != nil && !c.health.ok()
}

// failed records a Redis error and reports whether to use the fallback. A
// caller that gave up is no sign of Redis trouble.
func (c *RedisCounter) failed(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if c.health != nil {
		c.health.failed(err)
	}
	return c.fallback != nil
}

func (c *RedisCounter) succeeded() {
	if c.health != nil {
		c.health.succeeded()
	}
}
