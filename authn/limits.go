package authn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zectre/zectre-auth/store"
)

// ErrRateLimited is matched (errors.Is) by every *RateLimitedError.
var ErrRateLimited = errors.New("authn: rate limited")

// RateLimitedError says a limit was reached and when to try again.
type RateLimitedError struct {
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("authn: rate limited, retry after %s", e.RetryAfter)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// Counter counts events per key in fixed windows; it backs the rate limits
// (the cache's LocalCounter and RedisCounter implement it). Incr must be
// atomic (increment and read in one step, across replicas when shared): the
// limits reserve with it.
type Counter interface {
	// Incr adds one to key's count in its current window (starting a window
	// of the given length if none is open) and returns the new count and the
	// time left until the window closes.
	Incr(ctx context.Context, key string, window time.Duration) (n int64, reset time.Duration, err error)
	// Get returns key's count in its current window (0 when none is open).
	Get(ctx context.Context, key string) (n int64, reset time.Duration, err error)
	// Decr takes one back from key's count in its current window, so that
	// a reservation (Incr before the work, compared with the limit) can be
	// given back when the outcome does not count. It never opens a window,
	// never moves the window's end and never goes below zero.
	Decr(ctx context.Context, key string) error
}

// Limit is a number of events allowed per window.
type Limit struct {
	N      int64
	Window time.Duration
}

// Action names a rate-limited request kind counted per client address.
type Action string

const (
	ActionSignup   Action = "signup"
	ActionInitiate Action = "cli-initiate"
	ActionPoll     Action = "cli-poll"
)

// LimitPolicy is the set of limits (see config's [limits] section).
type LimitPolicy struct {
	FailuresPerAccount Limit // failed logins and CLI completes per account
	FailuresPerAddress Limit // failed logins and CLI completes per address
	PerAddress         map[Action]Limit
}

// Limits enforces a LimitPolicy over a Counter. Failure limits only ever
// refuse new password attempts: tokens and keys already issued keep working,
// so an attacker cannot lock the real user out of them.
type Limits struct {
	Counter Counter
	Policy  LimitPolicy
}

// accountKey counts an account under the one spelling of its email, valid
// or not, so that case and spaces do not spread its failures over keys.
func accountKey(email string) string {
	e, _ := store.NormalizeEmail(email)
	return "fail:acct:" + e
}

func addressKey(addr string) string { return "fail:addr:" + addr }

// Attempt is a password attempt reserved against the failure limits of
// its account and address. A reservation counts as a failure until it is
// released, so that attempts in flight count too: without that, every
// attempt that started before the first failure was counted would get its
// guess. Keep it (do nothing) when the password was wrong; Release it when
// the outcome was not a failure (right password, or no verdict at all).
type Attempt struct {
	l    *Limits
	keys []string // reserved keys, released in order
}

// ReserveLogin reserves one failure of account email and address addr
// before the password is checked, refusing with *RateLimitedError when
// either has used up its failures (counting the attempts in flight). Each
// reservation is one atomic increment compared with the limit afterwards,
// so parallel attempts cannot all slip under it.
func (l *Limits) ReserveLogin(ctx context.Context, email, addr string) (*Attempt, error) {
	a := &Attempt{l: l}
	for _, r := range [...]struct {
		key string
		lim Limit
	}{
		{accountKey(email), l.Policy.FailuresPerAccount},
		{addressKey(addr), l.Policy.FailuresPerAddress},
	} {
		n, reset, err := l.Counter.Incr(ctx, r.key, r.lim.Window)
		if err != nil {
			a.Release(ctx)
			return nil, err
		}
		a.keys = append(a.keys, r.key)
		if n > r.lim.N {
			// A refused attempt is no guess: it gives its place back.
			a.Release(ctx)
			return nil, &RateLimitedError{RetryAfter: reset}
		}
	}
	return a, nil
}

// Release gives the reservation back. It is safe to call more than once
// and on a nil *Attempt. A failure to release only leaves the attempt
// counted, which errs on the side of the limit; it is returned for the log.
func (a *Attempt) Release(ctx context.Context) error {
	if a == nil {
		return nil
	}
	var errs []error
	for _, k := range a.keys {
		if err := a.l.Counter.Decr(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	a.keys = nil
	return errors.Join(errs...)
}

// Take counts one request of kind a from addr and refuses it past the limit.
func (l *Limits) Take(ctx context.Context, a Action, addr string) error {
	lim, ok := l.Policy.PerAddress[a]
	if !ok {
		return nil
	}
	n, reset, err := l.Counter.Incr(ctx, string(a)+":"+addr, lim.Window)
	if err != nil {
		return err
	}
	if n > lim.N {
		return &RateLimitedError{RetryAfter: reset}
	}
	return nil
}
