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

func TestCheckLoginPerAccount(t *testing.T) {
	ctx := context.Background()
	l := newLimits(authn.LimitPolicy{
		FailuresPerAccount: authn.Limit{N: 3, Window: time.Hour},
		FailuresPerAddress: authn.Limit{N: 100, Window: time.Hour},
	})
	// Failures in mixed case, each from its own address, all count against
	// one account.
	emails := []string{"Alice@Example.com", "alice@example.com", "ALICE@EXAMPLE.COM"}
	for i, email := range emails {
		mustAllow(t, "before failure "+email, l.CheckLogin(ctx, "alice@example.com", "10.0.0.9"))
		if err := l.LoginFailed(ctx, email, fmt.Sprintf("10.0.0.%d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	mustLimited(t, "account after 3 failures", l.CheckLogin(ctx, "aLiCe@example.com", "10.0.0.9"), time.Hour)
	mustLimited(t, "account after 3 failures, lower case", l.CheckLogin(ctx, "alice@example.com", "192.0.2.1"), time.Hour)
	mustAllow(t, "another account", l.CheckLogin(ctx, "bob@example.com", "10.0.0.1"))
}

func TestCheckLoginPerAddress(t *testing.T) {
	ctx := context.Background()
	l := newLimits(authn.LimitPolicy{
		FailuresPerAccount: authn.Limit{N: 100, Window: time.Hour},
		FailuresPerAddress: authn.Limit{N: 2, Window: time.Minute},
	})
	// One address guessing at many accounts.
	for _, email := range []string{"a@example.com", "b@example.com"} {
		mustAllow(t, "before failure", l.CheckLogin(ctx, email, "203.0.113.7"))
		if err := l.LoginFailed(ctx, email, "203.0.113.7"); err != nil {
			t.Fatal(err)
		}
	}
	mustLimited(t, "address after 2 failures", l.CheckLogin(ctx, "c@example.com", "203.0.113.7"), time.Minute)
	// The accounts themselves are not locked, from elsewhere.
	mustAllow(t, "same account, other address", l.CheckLogin(ctx, "a@example.com", "203.0.113.8"))
	mustAllow(t, "new account, other address", l.CheckLogin(ctx, "c@example.com", "203.0.113.8"))
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
