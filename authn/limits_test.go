package authn_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/cache"
)

func newLimits(p authn.LimitPolicy) *authn.Limits {
	return &authn.Limits{Counter: cache.NewLocalCounter(1024), Policy: p}
}

// mustLimited fails unless err is a *RateLimitedError with a retry time
// within the window.
func mustLimited(t *testing.T, what string, err error, window time.Duration) {
	t.Helper()
	var rl *authn.RateLimitedError
	if !errors.As(err, &rl) || !errors.Is(err, authn.ErrRateLimited) {
		t.Fatalf("%s: err = %v, want a rate limit", what, err)
	}
	if rl.RetryAfter <= 0 || rl.RetryAfter > window {
		t.Fatalf("%s: RetryAfter = %v, want in (0, %v]", what, rl.RetryAfter, window)
	}
}

func mustAllow(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: err = %v, want nil", what, err)
	}
}

// probe asks whether a password attempt would be let through, without
// counting it (a reservation given back, as after a right password).
func probe(l *authn.Limits, email, addr string) error {
	a, err := l.ReserveLogin(context.Background(), email, addr)
	if err == nil {
		err = a.Release(context.Background())
	}
	return err
}

// fail is a wrong password: the reservation is kept.
func fail(t *testing.T, l *authn.Limits, email, addr string) {
	t.Helper()
	if _, err := l.ReserveLogin(context.Background(), email, addr); err != nil {
		t.Fatalf("reserving a failure of %s from %s: %v", email, addr, err)
	}
}

func TestReserveLoginPerAccount(t *testing.T) {
	l := newLimits(authn.LimitPolicy{
		FailuresPerAccount: authn.Limit{N: 3, Window: time.Hour},
		FailuresPerAddress: authn.Limit{N: 100, Window: time.Hour},
	})
	// Failures in mixed case, each from its own address, all count against
	// one account.
	emails := []string{"Alice@Example.com", "alice@example.com", "ALICE@EXAMPLE.COM"}
	for i, email := range emails {
		mustAllow(t, "before failure "+email, probe(l, "alice@example.com", "10.0.0.9"))
		fail(t, l, email, fmt.Sprintf("10.0.0.%d", i+1))
	}
	mustLimited(t, "account after 3 failures", probe(l, "aLiCe@example.com", "10.0.0.9"), time.Hour)
	mustLimited(t, "account after 3 failures, lower case", probe(l, "alice@example.com", "192.0.2.1"), time.Hour)
	mustAllow(t, "another account", probe(l, "bob@example.com", "10.0.0.1"))
}

func TestReserveLoginPerAddress(t *testing.T) {
	l := newLimits(authn.LimitPolicy{
		FailuresPerAccount: authn.Limit{N: 100, Window: time.Hour},
		FailuresPerAddress: authn.Limit{N: 2, Window: time.Minute},
	})
	// One address guessing at many accounts.
	for _, email := range []string{"a@example.com", "b@example.com"} {
		mustAllow(t, "before failure", probe(l, email, "203.0.113.7"))
		fail(t, l, email, "203.0.113.7")
	}
	mustLimited(t, "address after 2 failures", probe(l, "c@example.com", "203.0.113.7"), time.Minute)
	// The accounts themselves are not locked, from elsewhere.
	mustAllow(t, "same account, other address", probe(l, "a@example.com", "203.0.113.8"))
	mustAllow(t, "new account, other address", probe(l, "c@example.com", "203.0.113.8"))
}

// TestReserveLoginInFlight: reservations count while they are held, a
// refused one takes no place, and a released one gives its place back.
func TestReserveLoginInFlight(t *testing.T) {
	ctx := context.Background()
	l := newLimits(authn.LimitPolicy{
		FailuresPerAccount: authn.Limit{N: 3, Window: time.Hour},
		FailuresPerAddress: authn.Limit{N: 100, Window: time.Hour},
	})
	var held []*authn.Attempt
	for i := range 3 {
		a, err := l.ReserveLogin(ctx, "dan@example.com", fmt.Sprintf("10.0.1.%d", i))
		mustAllow(t, "reservation within the limit", err)
		held = append(held, a)
	}
	for range 5 {
		mustLimited(t, "while three are in flight", probe(l, "dan@example.com", "10.0.1.9"), time.Hour)
	}
	mustAllow(t, "release", held[0].Release(ctx))
	mustAllow(t, "release twice is harmless", held[0].Release(ctx))
	mustAllow(t, "one place given back", probe(l, "dan@example.com", "10.0.1.9"))
	fail(t, l, "dan@example.com", "10.0.1.9")
	mustLimited(t, "the place taken by a failure", probe(l, "dan@example.com", "10.0.1.9"), time.Hour)
	// An address refusal gives the account's reservation back too.
	l = newLimits(authn.LimitPolicy{
		FailuresPerAccount: authn.Limit{N: 1, Window: time.Hour},
		FailuresPerAddress: authn.Limit{N: 1, Window: time.Hour},
	})
	fail(t, l, "eve@example.com", "10.0.2.1")
	mustLimited(t, "address used up", probe(l, "fay@example.com", "10.0.2.1"), time.Hour)
	mustAllow(t, "the account refused by address kept no place", probe(l, "fay@example.com", "10.0.2.2"))
}

func TestTake(t *testing.T) {
	ctx := context.Background()
	l := newLimits(authn.LimitPolicy{PerAddress: map[authn.Action]authn.Limit{
		authn.ActionSignup:   {N: 3, Window: time.Minute},
		authn.ActionInitiate: {N: 1, Window: time.Minute},
	}})
	for i := range 3 {
		mustAllow(t, fmt.Sprintf("signup %d", i+1), l.Take(ctx, authn.ActionSignup, "198.51.100.1"))
	}
	mustLimited(t, "fourth signup", l.Take(ctx, authn.ActionSignup, "198.51.100.1"), time.Minute)
	mustLimited(t, "fifth signup", l.Take(ctx, authn.ActionSignup, "198.51.100.1"), time.Minute)
	mustAllow(t, "signup from another address", l.Take(ctx, authn.ActionSignup, "198.51.100.2"))
	// Actions count separately.
	mustAllow(t, "initiate", l.Take(ctx, authn.ActionInitiate, "198.51.100.1"))
	mustLimited(t, "second initiate", l.Take(ctx, authn.ActionInitiate, "198.51.100.1"), time.Minute)
	// An action without a limit is never refused.
	for range 10 {
		mustAllow(t, "poll without a limit", l.Take(ctx, authn.ActionPoll, "198.51.100.1"))
	}
}

func TestTakeWindowEnds(t *testing.T) {
	ctx := context.Background()
	const window = 50 * time.Millisecond
	l := newLimits(authn.LimitPolicy{PerAddress: map[authn.Action]authn.Limit{
		authn.ActionSignup: {N: 1, Window: window},
	}})
	mustAllow(t, "first", l.Take(ctx, authn.ActionSignup, "a"))
	mustLimited(t, "second", l.Take(ctx, authn.ActionSignup, "a"), window)
	time.Sleep(2 * window)
	mustAllow(t, "after the window", l.Take(ctx, authn.ActionSignup, "a"))
}

func TestRateLimitedError(t *testing.T) {
	var err error = &authn.RateLimitedError{RetryAfter: 3 * time.Second}
	if !errors.Is(err, authn.ErrRateLimited) {
		t.Fatal("errors.Is(RateLimitedError, ErrRateLimited) is false")
	}
	wrapped := errors.Join(errors.New("context"), err)
	if !errors.Is(wrapped, authn.ErrRateLimited) {
		t.Fatal("wrapped RateLimitedError does not match ErrRateLimited")
	}
	if errors.Is(err, authn.ErrInvalidKey) {
		t.Fatal("RateLimitedError matches an unrelated sentinel")
	}
}
