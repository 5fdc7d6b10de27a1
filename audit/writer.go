// Package audit writes the audit log: one JSON line per authentication
// attempt, built by one constructor (NewEvent) from what the caller knows
// of the attempt, through a buffered writer that never blocks a request.
//
// The line names the error code the client was answered; that mapping is
// the HTTP layer's, so it is given to the writer once (New) rather than
// known here.
package audit

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the writer.
const (
	// FlushInterval is how often buffered lines are written.
	FlushInterval = 100 * time.Millisecond
	// FlushSize: a buffer this full (bytes) is written at once.
	FlushSize = 64 << 10
	// MaxBuffer bounds the bytes waiting while the writer is busy; lines
	// beyond it are dropped and counted.
	MaxBuffer = 4 << 20
)

// Writer writes one JSON line per authentication attempt, in the shape of
// the service's slog JSON output ({"time":…,"level":"INFO","msg":"auth",…}),
// so that the lines interleave with the rest of the log and parse alike.
//
// At proxy rates a synchronous slog line per request would dominate the hot
// path (a lock on the shared writer and a write syscall each), so Attempt
// only appends to an in-memory buffer; a background flusher writes the
// buffer every FlushInterval, or at once when FlushSize bytes are
// waiting. The buffer is bounded: while the writer is stuck (a blocked pipe,
// a full disk), lines beyond MaxBuffer are dropped and counted rather
// than blocking requests, and a warning line with the count is written once
// the writer moves again. Call Close on shutdown to write what is left.
type Writer struct {
	w         io.Writer
	code      func(error) string // names a denial's error code; nil leaves it out
	interval  time.Duration
	flushSize int
	maxBuffer int

	mu      sync.Mutex
	pending []byte
	closed  bool
	stamp   stamp // guarded by mu

	writeMu sync.Mutex // serialises writers of w: the flusher and Flush
	spare   []byte
	warn    []byte

	observer    atomic.Pointer[observed] // set by Observe; nil: nobody listens
	dropped     atomic.Uint64            // lines dropped since the last warning line
	droppedAll  atomic.Uint64
	kick        chan struct{}
	stop        chan struct{}
	done        chan struct{}
	closeOnce   sync.Once
	closeResult error
}

// New starts a writer on w with the default interval and sizes. code names
// a denial with the error code the client is answered (the HTTP layer's
// mapping); nil leaves the code out of the lines.
func New(w io.Writer, code func(error) string) *Writer {
	return newWriter(w, code, FlushInterval, FlushSize, MaxBuffer)
}

func newWriter(w io.Writer, code func(error) string, interval time.Duration, flushSize, maxBuffer int) *Writer {
	a := &Writer{
		w: w, code: code, interval: interval, flushSize: flushSize, maxBuffer: maxBuffer,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go a.run()
	return a
}

// Attempt records the line of one authentication attempt, its event built
// by NewEvent with the writer's error coder. It never blocks on the writer,
// and it copies every string, so at may refer to request memory that is
// reused afterwards. A nil *Writer records nothing.
func (a *Writer) Attempt(at Attempt) {
	if a == nil {
		return
	}
	a.record(NewEvent(at, a.code))
}

// record appends the line of e.
func (a *Writer) record(e Event) {
	if o := a.observer.Load(); o != nil {
		o.Attempt(e.Method, e.Outcome)
	}
	now := time.Now()
	a.mu.Lock()
	if a.closed || len(a.pending) >= a.maxBuffer {
		a.mu.Unlock()
		a.dropped.Add(1)
		a.droppedAll.Add(1)
		return
	}
	a.pending = appendEvent(a.pending, &a.stamp, now, &e)
	full := len(a.pending) >= a.flushSize
	a.mu.Unlock()
	if full {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

// Observer learns of every authentication attempt the writer is given,
// for metrics: also of those whose line is dropped. Attempt runs on the
// request path: it must be cheap, must not block, and must not keep the
// strings, which may alias request memory.
type Observer interface {
	Attempt(method, outcome string)
}

// observed boxes an Observer for the atomic pointer.
type observed struct{ Observer }

// Observe makes o learn of every attempt recorded from now on; nil stops
// that. It is safe to call while requests are served.
func (a *Writer) Observe(o Observer) {
	if a == nil {
		return
	}
	if o == nil {
		a.observer.Store(nil)
		return
	}
	a.observer.Store(&observed{o})
}

// Dropped is how many lines were dropped because the writer was stuck or
// the writer closed.
func (a *Writer) Dropped() uint64 {
	if a == nil {
		return 0
	}
	return a.droppedAll.Load()
}

// Flush writes every line recorded before the call. It waits for the writer.
func (a *Writer) Flush() error {
	if a == nil {
		return nil
	}
	return a.flush()
}

// Close stops the flusher and writes what is left. Lines recorded after
// Close are dropped.
func (a *Writer) Close() error {
	if a == nil {
		return nil
	}
	a.closeOnce.Do(func() {
		close(a.stop)
		<-a.done
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		a.closeResult = a.flush()
	})
	return a.closeResult
}

func (a *Writer) run() {
	defer close(a.done)
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
		case <-a.kick:
		}
		_ = a.flush() // a failing writer loses lines; nothing better to do with them
	}
}

// flush swaps the pending buffer out under the short lock and writes it
// outside, so Attempt never waits for the writer.
func (a *Writer) flush() error {
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	a.mu.Lock()
	out := a.pending
	a.pending = a.spare[:0]
	a.mu.Unlock()
	var err error
	if n := a.dropped.Swap(0); n > 0 {
		a.warn = appendDropWarning(a.warn[:0], time.Now(), n)
		_, err = a.w.Write(a.warn)
	}
	if len(out) > 0 {
		if _, werr := a.w.Write(out); err == nil {
			err = werr
		}
	}
	if cap(out) > 2*a.maxBuffer {
		out = nil // do not keep an outsized buffer alive
	}
	a.spare = out[:0]
	return err
}
