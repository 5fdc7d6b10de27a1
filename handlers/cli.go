package handlers

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/store"
)

const (
	maxDeviceNameLength = 100 // code points
	// cliSessionRetention is how long a session is kept after it expires,
	// so that late polls see "expired" rather than an unknown code.
	cliSessionRetention = time.Hour
)

type initiateRequest struct {
	DeviceName *string `json:"device_name"`
}

type initiateResponse struct {
	Code      string `json:"code"`
	AuthURL   string `json:"auth_url"`
	ExpiresAt string `json:"expires_at"`
}

func (a *API) cliInitiate(ctx context.Context, rc *fasthttp.RequestCtx) error {
	if err := a.Limits.Take(ctx, authn.ActionInitiate, a.clientAddr(rc)); err != nil {
		return err
	}
	var req initiateRequest
	// The body is optional here: a bare POST starts an unnamed login. A
	// declared type must still be JSON, body or not, as on every endpoint
	// that reads one.
	if err := checkJSONType(rc); err != nil {
		return err
	}
	if len(rc.PostBody()) > 0 {
		if err := decodeBody(rc, &req); err != nil {
			return err
		}
	}
	device := strings.TrimSpace(deref(req.DeviceName))
	if !store.Printable(device, maxDeviceNameLength) {
		return validationError("device_name must be at most 100 printable characters.")
	}
	now := a.Now().UTC()
	code, digest := authn.NewCLICode()
	s := store.CLISession{
		CodeDigest: digest, DeviceName: device, Status: store.CLIPending,
		ExpiresAt: now.Add(CLICodeTTL), CreatedAt: now,
	}
	if err := a.Store.CreateCLISession(ctx, s); err != nil {
		return err
	}
	writeJSON(rc, fasthttp.StatusOK, initiateResponse{
		Code:      code,
		AuthURL:   strings.TrimRight(a.AuthURLBase, "/") + "/auth/cli?code=" + code,
		ExpiresAt: timestamp(s.ExpiresAt),
	})
	return nil
}

type statusResponse struct {
	Status string    `json:"status"`
	APIKey *string   `json:"api_key"`
	User   *userJSON `json:"user"`
}

func (a *API) cliStatus(ctx context.Context, rc *fasthttp.RequestCtx) error {
	if err := a.Limits.Take(ctx, authn.ActionPoll, a.clientAddr(rc)); err != nil {
		return err
	}
	code, _ := rc.UserValue("code").(string)
	s, err := a.cliSession(ctx, code)
	if err != nil {
		return err
	}
	switch s.Status {
	case store.CLIPending:
		status := "pending"
		if !a.Now().Before(s.ExpiresAt) {
			status = "expired"
		}
		writeJSON(rc, fasthttp.StatusOK, statusResponse{Status: status})
		return nil
	case store.CLICompleted:
		return a.deliver(ctx, rc, code, s.CodeDigest)
	default:
		return errSessionUsed
	}
}

// deliver hands the sealed key to the first poll after completion and
// erases it; every later poll is SESSION_USED.
func (a *API) deliver(ctx context.Context, rc *fasthttp.RequestCtx, code string, digest [32]byte) error {
	s, err := a.Store.DeliverCLISession(ctx, digest)
	if err != nil {
		return sessionError(err)
	}
	raw, err := authn.OpenWithCode(code, s.SealedKey)
	if err != nil {
		return err
	}
	u, err := a.Store.UserByID(ctx, s.UserID)
	if err != nil {
		return err
	}
	key, user := string(raw), userObject(u)
	writeJSON(rc, fasthttp.StatusOK, statusResponse{Status: "completed", APIKey: &key, User: &user})
	return nil
}

type completeRequest struct {
	Code     *string `json:"code"`
	Email    *string `json:"email"`
	Password *string `json:"password"`
}

type completeResponse struct {
	Success bool     `json:"success"`
	APIKey  string   `json:"api_key"`
	User    userJSON `json:"user"`
}

func (a *API) cliComplete(ctx context.Context, rc *fasthttp.RequestCtx) error {
	var req completeRequest
	if err := decodeBody(rc, &req); err != nil {
		return err
	}
	if req.Code == nil || req.Email == nil || req.Password == nil {
		return validationError("code, email and password are required.")
	}
	code := *req.Code
	s, err := a.cliSession(ctx, code)
	if err != nil {
		return err
	}
	now := a.Now().UTC()
	switch {
	case s.Status != store.CLIPending:
		return errSessionUsed
	case !now.Before(s.ExpiresAt):
		return errCodeExpired
	}
	u, err := a.checkPassword(ctx, rc, *req.Email, *req.Password, "cli")
	if err != nil {
		return err
	}
	name := "CLI: " + s.DeviceName
	if s.DeviceName == "" {
		name = "CLI: unnamed device"
	}
	raw, k, err := newAPIKey(u.ID, name, []string{authn.ScopeAll}, nil, now)
	if err != nil {
		return err
	}
	sealed, err := authn.SealForCode(code, []byte(raw))
	if err != nil {
		return err
	}
	if err := a.Store.CompleteCLISession(ctx, s.CodeDigest, now, k, sealed); err != nil {
		return sessionError(err)
	}
	a.Log.Info("cli login completed", "user_id", u.ID, "key_id", k.ID, "key_prefix", k.Prefix,
		"client", a.clientAddr(rc), "request_id", requestID(rc))
	writeJSON(rc, fasthttp.StatusOK, completeResponse{Success: true, APIKey: raw, User: userObject(u)})
	return nil
}

// cliSession finds a session by its code; malformed and unknown codes are
// both INVALID_CODE.
func (a *API) cliSession(ctx context.Context, code string) (store.CLISession, error) {
	if code == "" || len(code) > authn.MaxCLICodeLength {
		return store.CLISession{}, errInvalidCode
	}
	s, err := a.Store.CLISessionByDigest(ctx, authn.CLICodeDigest(code))
	if err != nil {
		return store.CLISession{}, sessionError(err)
	}
	return s, nil
}

// sessionError names what the store says of a CLI session by its code: a
// session it does not have is a code the client got wrong. Not so in
// toError, where store.ErrNotFound of another lookup (the user of a
// session, say) is no fault of the client's; the session's other outcomes
// (used, expired) map there.
func sessionError(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errInvalidCode
	}
	return err
}

// PurgeCLISessions deletes CLI sessions an hour after they expired, every
// interval until ctx is done.
func (a *API) PurgeCLISessions(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := a.Store.DeleteExpiredCLISessions(ctx, a.Now().Add(-cliSessionRetention))
			if err != nil {
				a.Log.Warn("purging expired cli sessions failed", "err", err)
			} else if n > 0 {
				a.Log.Info("purged expired cli sessions", "count", n)
			}
		}
	}
}
