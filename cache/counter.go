package cache

import (
	"context"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/zectre/zectre-auth/authn"
)

// DefaultLocalCounterSize bounds the keys an in-process counter tracks, so
// that a flood of distinct addresses cannot grow memory without limit.
const DefaultLocalCounterSize = 1 << 17

type window struct {
	n     int64
	reset time.Time
}

// LocalCounter is an in-process Counter for a single replica.
type LocalCounter struct {
	windows *otter.Cache[string, window]
	now     func() time.Time
}

var _ authn.Counter = (*LocalCounter)(nil)

// NewLocalCounter returns a Counter that tracks at most size keys.
func NewLocalCounter(size int) *LocalCounter {
	c := &LocalCounter{now: time.Now}
	c.windows = otter.Must(&otter.Options[string, window]{
		MaximumSize: size,
		// Expiry follows the value's window end, recomputed on every write
		// so that a window restarted in place gets its new end.
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, window]) time.Duration {
			return time.Until(e.Value.reset)
		}),
	})
	return c
}

// Incr implements Counter.
func (c *LocalCounter) Incr(_ context.Context, key string, length time.Duration) (int64, time.Duration, error) {
	now := c.now()
	w, _ := c.windows.Compute(key, func(old window, found bool) (window, otter.ComputeOp) {
		if !found || !now.Before(old.reset) {
			return window{n: 1, reset: now.Add(length)}, otter.WriteOp
		}
		old.n++
		return old, otter.WriteOp
	})
	return w.n, w.reset.Sub(now), nil
}

// Decr implements Counter.
func (c *LocalCounter) Decr(_ context.Context, key string) error {
	now := c.now()
	c.windows.Compute(key, func(old window, found bool) (window, otter.ComputeOp) {
		if !found || !now.Before(old.reset) || old.n <= 0 {
			return old, otter.CancelOp
		}
		old.n--
		return old, otter.WriteOp
	})
	return nil
}

// Get implements Counter.
func (c *LocalCounter) Get(_ context.Context, key string) (int64, time.Duration, error) {
	now := c.now()
	w, ok := c.windows.GetIfPresent(key)
	if !ok || !now.Before(w.reset) {
		return 0, 0, nil
	}
	return w.n, w.reset.Sub(now), nil
}
