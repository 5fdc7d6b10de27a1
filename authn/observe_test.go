package authn

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// refreshes records what OnRefresh is told.
type refreshes struct {
	mu   sync.Mutex
	seen []string // "ok:<keys>" or "error"
}

func (r *refreshes) record(keys int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.seen = append(r.seen, "error")
		return
	}
	r.seen = append(r.seen, fmt.Sprintf("ok:%d", keys))
}

func (r *refreshes) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.seen)
}

// OnRefresh hears of every fetch, whatever caused it: the one at start, a
// failed one, and one caused by an unknown kid.
func TestCatalogOnRefresh(t *testing.T) {
	keyA, keyB := rsaKey("a", "rsa-a"), rsaKey("b", "rsa-b")
	srv := newJWKSServer(t, keyA, keyB)
	var got refreshes
	a := newCatalog(t, srv.URL, newMemDirectory(), func(o *CatalogOptions) {
		o.OnRefresh = got.record
		o.UnknownKIDInterval = time.Millisecond
	})
	if s := got.String(); s != "[ok:2]" {
		t.Fatalf("after start: %s, want [ok:2]", s)
	}

	srv.fail(http.StatusServiceUnavailable)
	keyC := rsaKey("c", "rsa-c")
	if err := resolveCat(a, mint(t, keyC, catClaims("r"))); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of an unknown kid while the JWKS fails: %v", err)
	}
	if s := got.String(); s != "[ok:2 error]" {
		t.Fatalf("after a failed fetch: %s, want [ok:2 error]", s)
	}

	srv.serve(t, keyC)
	time.Sleep(2 * time.Millisecond) // the next unknown-kid slot
	if err := resolveCat(a, mint(t, keyC, catClaims("r"))); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if s := got.String(); s != "[ok:2 error ok:1]" {
		t.Fatalf("after the rotation: %s, want [ok:2 error ok:1]", s)
	}
}

// A catalog that cannot be reached at start is reported as a failed fetch.
func TestCatalogOnRefreshUnreachable(t *testing.T) {
	srv := newJWKSServer(t)
	srv.fail(http.StatusInternalServerError)
	var got refreshes
	newCatalog(t, srv.URL, newMemDirectory(), func(o *CatalogOptions) { o.OnRefresh = got.record })
	if s := got.String(); s != "[error]" {
		t.Fatalf("after start: %s, want [error]", s)
	}
}

// attempts is an AuditObserver that counts by method and outcome.
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
func TestAuditObserve(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	// A tiny buffer so that lines are dropped while the writer is stuck.
	a := newAudit(w, time.Millisecond, 1, 256)
	t.Cleanup(func() {
		close(w.release)
		a.Close()
	})
	obs := &attempts{n: map[[2]string]int{}}
	a.Observe(obs)
	for range 50 {
		a.Record(AuditEvent{Outcome: "ok", Method: "api_key", Reason: "a reason long enough to fill the buffer soon"})
	}
	a.Record(AuditEvent{Outcome: "denied", Method: "jwt"})
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.Record(AuditEvent{Outcome: "limited", Method: "password"})
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
	a.Record(AuditEvent{Outcome: "ok", Method: "cli"})
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
