package audit

import (
	"io"
	"sync"
	"testing"
	"time"
)

// attempts is an Observer that counts by method and outcome.
type attempts struct {
	mu sync.Mutex
	n  map[[2]string]int
}

func (a *attempts) Attempt(method, outcome string) {
	a.mu.Lock()
	a.n[[2]string{method, outcome}]++
	a.mu.Unlock()
}

// The observer counts every attempt, the dropped ones included, and
// Observe(nil) stops it.
func TestObserve(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	// A tiny buffer so that lines are dropped while the writer is stuck.
	a := newWriter(w, nil, time.Millisecond, 1, 256)
	t.Cleanup(func() {
		close(w.release)
		a.Close()
	})
	obs := &attempts{n: map[[2]string]int{}}
	a.Observe(obs)
	for range 50 {
		a.record(Event{Outcome: "ok", Method: "api_key", Reason: "a reason long enough to fill the buffer soon"})
	}
	a.record(Event{Outcome: "denied", Method: "jwt"})
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.record(Event{Outcome: "limited", Method: "password"})
		if a.Dropped() > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if a.Dropped() == 0 {
		t.Fatal("no line was dropped; the test needs a stuck writer")
	}
	obs.mu.Lock()
	okN, deniedN, limitedN := obs.n[[2]string{"api_key", "ok"}], obs.n[[2]string{"jwt", "denied"}], obs.n[[2]string{"password", "limited"}]
	obs.mu.Unlock()
	if okN != 50 || deniedN != 1 || limitedN == 0 {
		t.Fatalf("observed ok=%d denied=%d limited=%d, want 50, 1 and more than 0", okN, deniedN, limitedN)
	}

	a.Observe(nil)
	a.record(Event{Outcome: "ok", Method: "cli"})
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if n := obs.n[[2]string{"cli", "ok"}]; n != 0 {
		t.Fatalf("observed %d attempts after Observe(nil)", n)
	}
}

// blockingWriter blocks every write until release is closed, as a full
// pipe would.
type blockingWriter struct{ release chan struct{} }

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return io.Discard.Write(p)
}
