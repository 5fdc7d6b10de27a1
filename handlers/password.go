package handlers

import (
	"context"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/zectre/zectre-auth/authn"
)

type passwordChangeRequest struct {
	CurrentPassword *string `json:"current_password"`
	NewPassword     *string `json:"new_password"`
}

// changePassword replaces the caller's password and revokes every older
// token, on every replica, like a log out everywhere; it answers like a
// login, with a fresh token. The current password goes through the one
// password check of the service, so it counts against the login limits.
func (a *API) changePassword(ctx context.Context, rc *fasthttp.RequestCtx, u authn.AuthUser) error {
	var req passwordChangeRequest
	if err := decodeBody(rc, &req); err != nil {
		return err
	}
	if req.CurrentPassword == nil || req.NewPassword == nil {
		return validationError("Both current_password and new_password are required.")
	}
	if err := checkPasswordSize(*req.NewPassword); err != nil {
		return err
	}
	// By email: the cache serves UserByID without the hash; UserByEmail
	// reads the store.
	stored, err := a.Store.UserByEmail(ctx, u.Email)
	if err != nil {
		return err
	}
	if stored.PasswordHash == "" {
		return validationError("This account signs in through the catalog and has no local password to change.")
	}
	if utf8.RuneCountInString(*req.NewPassword) < minPasswordLength {
		return errWeakPassword
	}
	if _, err := a.checkPassword(ctx, rc, stored.Email, *req.CurrentPassword, "password"); err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, hashWait)
	hash, err := a.Passwords.Hash(hctx, *req.NewPassword)
	cancel()
	if err != nil {
		return err
	}
	if err := a.Store.SetPasswordHash(ctx, stored.ID, hash); err != nil {
		return err
	}
	changed, err := a.Store.RevokeTokens(ctx, stored.Email, a.Now())
	if err != nil {
		return err
	}
	a.Log.Info("password changed", "user_id", u.ID, "request_id", requestID(rc))
	token, exp, err := a.Tokens.Issue(changed.ID, issueTime(a.Now(), changed))
	if err != nil {
		return err
	}
	writeJSON(rc, fasthttp.StatusOK, loginResponse{Token: token, ExpiresAt: timestamp(exp), User: userObject(changed)})
	return nil
}
