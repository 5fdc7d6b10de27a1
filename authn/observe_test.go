package authn

import (
	"errors"
	"fmt"
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
