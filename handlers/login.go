package handlers

import (
	"context"
	"errors"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/audit"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/store"
)

// hashWait bounds how long a request queues for a password hashing slot
// before it is answered 429; the queue cannot grow without limit.
const hashWait = 3 * time.Second

type signupRequest struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
	Name     *string `json:"name"`
}

func (a *API) signup(ctx context.Context, rc *fasthttp.RequestCtx) error {
	if err := a.Limits.Take(ctx, authn.ActionSignup, a.clientAddr(rc)); err != nil {
		return err
	}
	var req signupRequest
	if err := decodeBody(rc, &req); err != nil {
		return err
	}
	email, ok := store.NormalizeEmail(deref(req.Email))
	if !ok {
		return errInvalidEmail
	}
	password := deref(req.Password)
	if err := checkPasswordSize(password); err != nil {
		return err
	}
	if utf8.RuneCountInString(password) < minPasswordLength {
		return errWeakPassword
	}
	var name *string
	if req.Name != nil && *req.Name != "" {
		if !store.Printable(*req.Name, store.MaxUserNameLength) {
			return validationError("The name must be at most 200 printable characters.")
		}
		name = req.Name
	}
	hctx, cancel := context.WithTimeout(ctx, hashWait)
	hash, err := a.Passwords.Hash(hctx, password)
	cancel()
	if err != nil {
		return err
	}
	u := store.User{
		ID: newID(), Email: email, Name: name, PasswordHash: hash,
		CreatedAt: a.Now().UTC(),
	}
	if err := a.Store.CreateUser(ctx, u); err != nil {
		return err
	}
	a.Log.Info("signup", "user_id", u.ID, "client", a.clientAddr(rc), "request_id", requestID(rc))
	writeJSON(rc, fasthttp.StatusCreated, userObject(u))
	return nil
}

// issueTime is when a new token of u counts as issued: now, or the account's
// revocation time if that is later. Revocation refuses every token of its
// own second (iat has whole seconds), so a login in that second gets a token
// dated from the next one, within the verifiers' clock-skew leeway.
func issueTime(now time.Time, u store.User) time.Time {
	if now.Before(u.TokensValidAfter) {
		return u.TokensValidAfter
	}
	return now
}

type loginRequest struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
}

type loginResponse struct {
	Token     string   `json:"token"`
	ExpiresAt string   `json:"expires_at"`
	User      userJSON `json:"user"`
}

func (a *API) login(ctx context.Context, rc *fasthttp.RequestCtx) error {
	var req loginRequest
	if err := decodeBody(rc, &req); err != nil {
		return err
	}
	if req.Email == nil || req.Password == nil {
		return validationError("Both email and password are required.")
	}
	u, err := a.checkPassword(ctx, rc, *req.Email, *req.Password, "password")
	if err != nil {
		return err
	}
	token, exp, err := a.Tokens.Issue(u.ID, issueTime(a.Now(), u))
	if err != nil {
		return err
	}
	writeJSON(rc, fasthttp.StatusOK, loginResponse{Token: token, ExpiresAt: timestamp(exp), User: userObject(u)})
	return nil
}

// checkPassword is the one password check of the service (login and CLI
// complete). Unknown email, wrong password and disabled account cost one
// hash each; the account's state is revealed only to someone who knows its
// password.
//
// The attempt is reserved against the failure limits of the account and the
// address before anything is hashed, so that parallel guesses count while
// they are in flight; a wrong password keeps the reservation (a failure),
// any other outcome gives it back.
func (a *API) checkPassword(ctx context.Context, rc *fasthttp.RequestCtx, rawEmail, password, method string) (store.User, error) {
	if err := checkPasswordSize(password); err != nil {
		return store.User{}, err
	}
	addr := a.clientAddr(rc)
	// An address that is not valid still counts, under what was typed.
	email, valid := store.NormalizeEmail(rawEmail)
	attempt, err := a.Limits.ReserveLogin(ctx, email, addr)
	if err != nil {
		if errors.Is(err, authn.ErrRateLimited) {
			a.auditPassword(rc, method, "limited", "", addr)
		}
		return store.User{}, err
	}
	u, failed, err := a.verifyPassword(ctx, valid, email, password)
	if !failed {
		if rerr := attempt.Release(ctx); rerr != nil {
			a.Log.Warn("giving back a login attempt failed", "err", rerr)
		}
	}
	switch {
	case err != nil:
		return store.User{}, err
	case failed:
		a.auditPassword(rc, method, "denied", u.ID, addr)
		return store.User{}, errInvalidCreds
	case u.Disabled:
		a.auditPassword(rc, method, "disabled", u.ID, addr)
		return store.User{}, errAccountDisabled
	}
	a.auditPassword(rc, method, "ok", u.ID, addr)
	return u, nil
}

// verifyPassword looks the account up and checks the password against its
// hash (a dummy one when there is no account). failed is true only for a
// wrong password or an unknown account: errors (a busy hasher, the store)
// are no verdict on the password.
func (a *API) verifyPassword(ctx context.Context, valid bool, email, password string) (u store.User, failed bool, err error) {
	if valid {
		u, err = a.Store.UserByEmail(ctx, email)
		if errors.Is(err, store.ErrNotFound) {
			u, err = store.User{}, nil
		}
		if err != nil {
			return store.User{}, false, err
		}
	}
	hctx, cancel := context.WithTimeout(ctx, hashWait)
	ok, rehash, err := a.Passwords.Verify(hctx, password, u.PasswordHash)
	cancel()
	if err != nil && !errors.Is(err, authn.ErrBusy) && u.PasswordHash != "" {
		a.Log.Error("stored password hash is unreadable", "user_id", u.ID, "err", err)
		ok, err = false, nil
	}
	if err != nil {
		return store.User{}, false, err
	}
	if !ok {
		return u, true, nil
	}
	if rehash && !u.Disabled {
		a.rehash(ctx, u.ID, password)
	}
	return u, false, nil
}

// rehash upgrades a hash made with weaker parameters; failure only logs,
// since the login itself succeeded.
func (a *API) rehash(ctx context.Context, userID, password string) {
	h, err := a.Passwords.Hash(ctx, password)
	if err == nil {
		err = a.Store.SetPasswordHash(ctx, userID, h)
	}
	if err != nil {
		a.Log.Warn("password rehash failed", "user_id", userID, "err", err)
	}
}

// auditPassword records the audit line of a password check: no credential
// was presented, so the check names its method, account and verdict.
func (a *API) auditPassword(rc *fasthttp.RequestCtx, method, outcome, userID, addr string) {
	client, _ := netip.ParseAddr(addr)
	a.record(audit.Attempt{
		Source: "api", Path: string(rc.Path()), Client: client, RequestID: requestID(rc),
		Method: method, UserID: userID, Outcome: outcome,
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
