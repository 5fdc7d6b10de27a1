package authn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
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

// Counter counts events per key in fixed windows (cache.Counter satisfies it).
type Counter interface {
	Incr(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error)
	Get(ctx context.Context, key string) (int64, time.Duration, error)
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

func accountKey(email string) string { return "fail:acct:" + strings.ToLower(email) }
func addressKey(addr string) string  { return "fail:addr:" + addr }

// CheckLogin refuses a password attempt when the account or the address has
// used up its failures.
func (l *Limits) CheckLogin(ctx context.Context, email, addr string) error {
	if err := l.check(ctx, accountKey(email), l.Policy.FailuresPerAccount); err != nil {
		return err
	}
	return l.check(ctx, addressKey(addr), l.Policy.FailuresPerAddress)
}

// LoginFailed counts a failed password attempt against account and address.
func (l *Limits) LoginFailed(ctx context.Context, email, addr string) error {
	if _, _, err := l.Counter.Incr(ctx, accountKey(email), l.Policy.FailuresPerAccount.Window); err != nil {
		return err
	}
	_, _, err := l.Counter.Incr(ctx, addressKey(addr), l.Policy.FailuresPerAddress.Window)
	return err
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

func (l *Limits) check(ctx context.Context, key string, lim Limit) error {
	n, reset, err := l.Counter.Get(ctx, key)
	if err != nil {
		return err
	}
	if n >= lim.N {
		return &RateLimitedError{RetryAfter: reset}
	}
	return nil
}
