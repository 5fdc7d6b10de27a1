package cache

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// DefaultUsageInterval is how often recorded API key use is written out.
const DefaultUsageInterval = 5 * time.Second

// Toucher writes last-use times of API keys in one batch (store.Store does).
// The map is the caller's again once TouchAPIKeys returns.
type Toucher interface {
	TouchAPIKeys(ctx context.Context, used map[string]time.Time) error
}

// usageChunk is how many keys' use one TouchAPIKeys call gets, so that a
// flush after a burst of 100 000 distinct keys never holds them all as
// strings at once.
const usageChunk = 1000

// Usage buffers API key last-use times and writes them in batches off the
// request path: a request only takes a mutex and writes a map entry.
//
// Ids that are uuids (every store makes those) are kept as 16 bytes, not as
// the strings the requests carried: 100 000 keys used between two flushes
// then hold a few MiB, not a string each.
type Usage struct {
	to  Toucher
	log *slog.Logger

	mu     sync.Mutex
	byUUID map[uuid.UUID]int64 // unix nanoseconds
	other  map[string]int64
}

// NewUsage returns a Usage writing to t.
func NewUsage(t Toucher, log *slog.Logger) *Usage {
	return &Usage{to: t, log: log, byUUID: make(map[uuid.UUID]int64), other: make(map[string]int64)}
}

// Used records that keyID was used at at.
func (u *Usage) Used(keyID string, at time.Time) {
	n := at.UnixNano()
	id, err := uuid.Parse(keyID)
	u.mu.Lock()
	if err == nil {
		if prev, ok := u.byUUID[id]; !ok || n > prev {
			u.byUUID[id] = n
		}
	} else if prev, ok := u.other[keyID]; !ok || n > prev {
		if !ok {
			keyID = strings.Clone(keyID) // not the request's memory
		}
		u.other[keyID] = n
	}
	u.mu.Unlock()
}

// Flush writes what is pending, usageChunk keys per TouchAPIKeys call. On
// failure everything taken is put back, so that a later flush retries it
// (newer times win; writing a time twice is harmless).
func (u *Usage) Flush(ctx context.Context) error {
	u.mu.Lock()
	byUUID, other := u.byUUID, u.other
	if len(byUUID) == 0 && len(other) == 0 {
		u.mu.Unlock()
		return nil
	}
	u.byUUID, u.other = make(map[uuid.UUID]int64), make(map[string]int64)
	u.mu.Unlock()

	var err error
	batch := make(map[string]time.Time, min(len(byUUID)+len(other), usageChunk))
	write := func(id string, n int64) {
		if err != nil {
			return
		}
		batch[id] = time.Unix(0, n)
		if len(batch) == usageChunk {
			err = u.to.TouchAPIKeys(ctx, batch)
			clear(batch)
		}
	}
	for id, n := range byUUID {
		write(id.String(), n)
	}
	for id, n := range other {
		write(id, n)
	}
	if err == nil && len(batch) > 0 {
		err = u.to.TouchAPIKeys(ctx, batch)
	}
	if err != nil {
		for id, n := range byUUID {
			u.Used(id.String(), time.Unix(0, n))
		}
		for id, n := range other {
			u.Used(id, time.Unix(0, n))
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
