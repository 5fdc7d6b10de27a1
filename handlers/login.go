package handlers

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
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
	email, ok := normalizeEmail(deref(req.Email))
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
		if utf8.RuneCountInString(*req.Name) > maxNameLength || strings.ContainsFunc(*req.Name, unicode.IsControl) {
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
	a.Log.Info("signup", "user_id", u.ID, "client", a.clientAddr(rc))
	writeJSON(rc, fasthttp.StatusCreated, userObject(u))
	return nil
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
	token, exp, err := a.Tokens.Issue(u.ID, a.Now())
	if err != nil {
		return err
	}
	writeJSON(rc, fasthttp.StatusOK, loginResponse{Token: token, ExpiresAt: timestamp(exp), User: userObject(u)})
	return nil
}

// checkPassword is the one password check of the service (login and CLI
// complete). Unknown email, wrong password and disabled account cost one
// hash each; failures count against the account and the address; the
// account's state is revealed only to someone who knows its password.
func (a *API) checkPassword(ctx context.Context, rc *fasthttp.RequestCtx, rawEmail, password, method string) (store.User, error) {
	if err := checkPasswordSize(password); err != nil {
		return store.User{}, err
	}
	addr := a.clientAddr(rc)
	email, valid := normalizeEmail(rawEmail)
	if !valid {
		email = strings.ToLower(strings.TrimSpace(rawEmail))
	}
	if err := a.Limits.CheckLogin(ctx, email, addr); err != nil {
		a.audit(method, "limited", "", addr)
		return store.User{}, err
	}
	var u store.User // without a user, Verify checks a dummy hash
	if valid {
		var err error
		u, err = a.Store.UserByEmail(ctx, email)
		if errors.Is(err, store.ErrNotFound) {
			u, err = store.User{}, nil
		}
		if err != nil {
			return store.User{}, err
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
		return store.User{}, err
	}
	if !ok {
		if lerr := a.Limits.LoginFailed(ctx, email, addr); lerr != nil {
			a.Log.Warn("counting a failed login failed", "err", lerr)
		}
		a.audit(method, "denied", u.ID, addr)
		return store.User{}, errInvalidCreds
	}
	if u.Disabled {
		a.audit(method, "disabled", u.ID, addr)
		return store.User{}, errAccountDisabled
	}
	if rehash {
		a.rehash(ctx, u.ID, password)
	}
	a.audit(method, "ok", u.ID, addr)
	return u, nil
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

func (a *API) audit(method, outcome, userID, addr string) {
	client, _ := netip.ParseAddr(addr)
	a.record(authn.AuditEvent{Outcome: outcome, Method: method, Source: "api", UserID: userID, Client: client})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
