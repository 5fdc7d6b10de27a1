package proxy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// WebSocket close codes the proxy sends (RFC 6455 §7.4.1).
const (
	// CloseGoingAway: the process shuts down, or the tunnel was idle.
	CloseGoingAway = 1001
	// ClosePolicyViolation: the credential the tunnel was opened with was
	// revoked (its key deleted, its user disabled).
	ClosePolicyViolation = 1008
)

// TunnelResult is how one WebSocket upgrade through the edge ended.
type TunnelResult uint8

// The results of an upgrade, for metrics.
const (
	// TunnelOpened: the upstream switched protocols; bytes are copied.
	TunnelOpened TunnelResult = iota
	// TunnelRefused: the upstream answered without switching; its answer
	// was relayed and no tunnel opened.
	TunnelRefused
	// TunnelError: the upstream could not be reached, stalled or answered
	// something that is not a WebSocket switch (502/504).
	TunnelError
	// TunnelLimit: max_websocket_conns tunnels were open (503).
	TunnelLimit
	tunnelResults
)

func (r TunnelResult) String() string {
	switch r {
	case TunnelRefused:
		return "refused"
	case TunnelError:
		return "error"
	case TunnelLimit:
		return "limit"
	}
	return "opened"
}

// TunnelResults lists every result, for metrics.
var TunnelResults = [...]TunnelResult{TunnelOpened, TunnelRefused, TunnelError, TunnelLimit}

// Tunnels are the open WebSocket tunnels of one process. They outlive any
// one edge (a reload builds a new Handler over the same Tunnels), so that
// the cap counts every tunnel and revocation and shutdown reach them all.
type Tunnels struct {
	max  int
	idle time.Duration

	mu      sync.Mutex
	open    map[*tunnel]struct{}
	closing bool // Shutdown began: no new tunnel opens
	done    chan struct{}

	results       [tunnelResults]atomic.Uint64 // by TunnelResult
	toUpstream    atomic.Uint64
	toClient      atomic.Uint64
	reservedCount atomic.Int64
}

// NewTunnels makes the tunnel registry: at most limit open at once (0 or
// less: 1), each closed after idle without a byte either way (0 or less:
// an hour).
func NewTunnels(limit int, idle time.Duration) *Tunnels {
	if idle <= 0 {
		idle = time.Hour
	}
	return &Tunnels{max: max(limit, 1), idle: idle, open: map[*tunnel]struct{}{}}
}

// Open is the number of open tunnels, those being opened included.
func (t *Tunnels) Open() int { return int(t.reservedCount.Load()) }

// Opened is the number of upgrades that ended with r.
func (t *Tunnels) Opened(r TunnelResult) uint64 { return t.results[r].Load() }

// Bytes are the bytes copied so far towards the upstream and the client.
func (t *Tunnels) Bytes() (toUpstream, toClient uint64) {
	return t.toUpstream.Load(), t.toClient.Load()
}

func (t *Tunnels) count(r TunnelResult) { t.results[r].Add(1) }

// reserve takes a place for a tunnel before anything is dialled, so that
// upgrades in flight count against the cap too. release gives it back.
func (t *Tunnels) reserve() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing || t.reservedCount.Load() >= int64(t.max) {
		return false
	}
	t.reservedCount.Add(1)
	return true
}

func (t *Tunnels) release() { t.reservedCount.Add(-1) }

// add registers an opened tunnel; false when Shutdown has begun.
func (t *Tunnels) add(tn *tunnel) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.open[tn] = struct{}{}
	return true
}

// remove forgets a tunnel that ended and gives its place back.
func (t *Tunnels) remove(tn *tunnel) {
	t.mu.Lock()
	delete(t.open, tn)
	last := t.closing && len(t.open) == 0 && t.done != nil
	t.mu.Unlock()
	t.release()
	if last {
		close(t.done)
		t.done = nil
	}
}

// matching are the open tunnels for which keep says yes.
func (t *Tunnels) matching(keep func(*tunnel) bool) []*tunnel {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*tunnel
	for tn := range t.open {
		if keep(tn) {
			out = append(out, tn)
		}
	}
	return out
}

// KeyChanged decides again, as if newly presented, the credential of every
// tunnel opened with the API key of that digest, and closes those whose
// credential no longer passes with close code 1008. The identity cache
// calls it for every change it learns of (its own writes, another
// replica's through Redis), so it returns at once: the checks run apart.
func (t *Tunnels) KeyChanged(digest [32]byte) {
	t.recheck(func(tn *tunnel) bool { return tn.hasKey && tn.keyDigest == digest })
}

// UserChanged is KeyChanged for every tunnel of the user with that id,
// whatever credential opened it (a disabled user's tokens too).
func (t *Tunnels) UserChanged(id string) {
	t.recheck(func(tn *tunnel) bool { return tn.userID != "" && tn.userID == id })
}

// AllChanged is KeyChanged for every tunnel with a credential: anything
// may have changed (the cache lost its tracking, or another process wrote
// the database).
func (t *Tunnels) AllChanged() {
	t.recheck(func(tn *tunnel) bool { return tn.recheckFn != nil })
}

// maxRechecks bounds the credential checks running at once, so that a
// AllChanged over thousands of tunnels does not flood the store.
const maxRechecks = 8

func (t *Tunnels) recheck(match func(*tunnel) bool) {
	tns := t.matching(func(tn *tunnel) bool { return tn.recheckFn != nil && match(tn) })
	if len(tns) == 0 {
		return
	}
	go func() {
		sem := make(chan struct{}, maxRechecks)
		for _, tn := range tns {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				tn.recheck()
			}()
		}
	}()
}

func (t *Tunnels) closeAll(tns []*tunnel, code uint16) int {
	for _, tn := range tns {
		tn.close(code)
	}
	return len(tns)
}

// Shutdown stops new tunnels at once, lets the open ones run until ctx
// ends (the end of shutdown_timeout) and then closes them with close code
// 1001. It returns when every tunnel has ended.
func (t *Tunnels) Shutdown(ctx context.Context) {
	t.mu.Lock()
	t.closing = true
	if len(t.open) == 0 {
		t.mu.Unlock()
		return
	}
	done := make(chan struct{})
	t.done = done
	t.mu.Unlock()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	t.closeAll(t.matching(func(*tunnel) bool { return true }), CloseGoingAway)
	<-done
}
