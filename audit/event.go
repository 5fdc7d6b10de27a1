package audit

import (
	"net/netip"

	"github.com/zectre/zectre-auth/authn"
)

// Event is one audit line. It never holds a credential: only the key's
// public prefix, ids, and where the attempt came from.
type Event struct {
	Outcome   string     // "ok", "denied", "limited", "disabled"
	Method    string     // jwt, catalog_jwt, api_key, password, ...
	Source    string     // what was asked: "api", "proxy", "verify"
	Code      string     // the error code answered, on denial
	UserID    string     // the caller, when known
	KeyID     string     // the API key's id, when it resolved
	KeyPrefix string     // the presented key's public prefix (first 8 characters)
	Client    netip.Addr // the client address the attempt is attributed to
	Path      string     // the normalised path the decision was about
	RequestID string     // X-Request-Id, to join with other logs
	Reason    string     // why it was denied (an error text, never a credential)
}

// Attempt is what a caller knows of one authentication attempt; NewEvent
// derives the line from it. A credential attempt (the Authentication API,
// the edge) gives Credentials, User and Err; a password check (login, CLI
// complete) presents no credential and names Method, UserID and Outcome
// itself, since its verdicts (limited, disabled) are not errors of a
// credential.
type Attempt struct {
	Source    string     // "api", "proxy" or "verify"
	Path      string     // the (normalised) path the decision was about
	Client    netip.Addr // the client address the attempt is attributed to
	RequestID string     // X-Request-Id

	// Credentials is the credential the answer is about; zero when none
	// was presented.
	Credentials authn.Credentials
	// User is the resolved caller; the zero AuthUser (no Method) when
	// resolution failed. A caller refused afterwards (a missing scope) has
	// both User and Err. A value, not a pointer: Err's text is read through
	// an interface, which makes the whole Attempt escape, and a pointer
	// here would move every request's caller to the heap.
	User authn.AuthUser
	// Err is why the attempt was refused; nil when it was not.
	Err error

	// Set by password checks and by events that are no attempt (a key
	// revoked on a leak report); when set, each replaces what the fields
	// above would give.
	Method  string // "password" (login), "cli" (CLI complete), "api_key"
	UserID  string // the account the password was checked against, if any
	KeyID   string // the key an event is about
	Outcome string // "ok", "denied", "limited", "disabled" or "revoked"
	Reason  string // why, for an event that is no attempt
}

// NewEvent is the one constructor of an audit line. From the credential it
// takes the kind ("api_key", or "bearer" for a token not yet known to be
// an own or a catalog token) and the key's public prefix; a resolved User
// replaces the kind with its method and adds its ids; Err makes the
// outcome "denied", with its text as the reason and code(Err) as the code
// (nil code: none). The password-check fields override all of that.
func NewEvent(at Attempt, code func(error) string) Event {
	e := Event{
		Method: at.Credentials.Kind(), KeyPrefix: authn.KeyPrefixOf(at.Credentials),
		Source: at.Source, Client: at.Client, Path: at.Path, RequestID: at.RequestID,
		Outcome: "ok",
	}
	if u := &at.User; u.Method != "" {
		e.Method, e.UserID, e.KeyID = string(u.Method), u.ID, u.APIKeyID
	}
	if at.Err != nil {
		e.Outcome, e.Reason = "denied", at.Err.Error()
		if code != nil {
			e.Code = code(at.Err)
		}
	}
	if at.Method != "" {
		e.Method = at.Method
	}
	if at.UserID != "" {
		e.UserID = at.UserID
	}
	if at.KeyID != "" {
		e.KeyID = at.KeyID
	}
	if at.Reason != "" {
		e.Reason = at.Reason
	}
	if at.Outcome != "" {
		e.Outcome = at.Outcome
	}
	return e
}
