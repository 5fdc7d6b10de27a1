package cache

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultUsageInterval is how often recorded API key use is written out.
const DefaultUsageInterval = 5 * time.Second

// Toucher writes last-use times of API keys in one batch (store.Store does).
type Toucher interface {
	TouchAPIKeys(ctx context.Context, used map[string]time.Time) error
}

// Usage buffers API key last-use times and writes them in batches off the
// request path: a request only takes a mutex and writes a map entry.
type Usage struct {
	to  Toucher
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]time.Time
}

// NewUsage returns a Usage writing to t.
func NewUsage(t Toucher, log *slog.Logger) *Usage {
	return &Usage{to: t, log: log, pending: make(map[string]time.Time)}
}

// Used records that keyID was used at at.
func (u *Usage) Used(keyID string, at time.Time) {
	u.mu.Lock()
	if prev, ok := u.pending[keyID]; !ok || at.After(prev) {
		u.pending[keyID] = at
	}
	u.mu.Unlock()
}

// Flush writes what is pending. On failure the batch is put back, so that a
// later flush retries it (newer times win).
func (u *Usage) Flush(ctx context.Context) error {
	u.mu.Lock()
	batch := u.pending
	u.pending = make(map[string]time.Time)
	u.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := u.to.TouchAPIKeys(ctx, batch)
	if err != nil {
		for id, at := range batch {
			u.Used(id, at)
		}
	}
	return err
}

// Run flushes every interval until ctx is done, then flushes once more with
// a short deadline so that a clean shutdown loses nothing.
func (u *Usage) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := u.Flush(ctx); err != nil {
				u.log.Warn("writing api key use failed", "err", err)
			}
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := u.Flush(final); err != nil {
				u.log.Error("writing api key use at shutdown failed", "err", err)
			}
			cancel()
			return
		}
	}
}
