package handlers

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/store"
)

// Input bounds of part B.
const (
	minPasswordLength = 8    // code points
	maxPasswordBytes  = 1024 // longer inputs are refused before any hashing
)

// userJSON is the user object of part A.
type userJSON struct {
	ID        string  `json:"id"`
	Email     string  `json:"email"`
	Name      *string `json:"name"`
	IsAdmin   bool    `json:"is_admin"`
	CreatedAt string  `json:"created_at"`
}

func userObject(u store.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Name: u.Name, IsAdmin: u.IsAdmin, CreatedAt: timestamp(u.CreatedAt)}
}

// timestamp formats t as RFC 3339 in UTC, to the second.
func timestamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

func optionalTimestamp(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timestamp(*t)
	return &s
}

// checkPasswordSize refuses passwords too long to hash cheaply.
func checkPasswordSize(p string) error {
	if len(p) > maxPasswordBytes {
		return validationError("The password must be at most 1024 bytes.")
	}
	return nil
}

// currentUser answers from the resolved caller: the resolver has just read
// the account, so there is nothing to look up again.
func (a *API) currentUser(ctx context.Context, rc *fasthttp.RequestCtx, u authn.AuthUser) error {
	writeJSON(rc, fasthttp.StatusOK, userJSON{
		ID: u.ID, Email: u.Email, Name: u.Name, IsAdmin: u.IsAdmin, CreatedAt: timestamp(u.CreatedAt),
	})
	return nil
}

// newID returns a time-ordered UUID (version 7), so that rows created in the
// same instant still list in creation order.
func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}
