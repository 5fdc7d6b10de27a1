package store

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// dbTime is the form every time takes in and out of both stores: both keep
// microseconds, so normalising on each side makes the two stores return
// identical values for what was written.
func dbTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// revocationTime is the form a RevokeTokens time is kept in: the start of
// the second after t. A token's iat has whole seconds, so a token issued in
// the same second as the revocation, before it, has the same iat as one
// issued after it; both are refused, and new logins date their tokens from
// the next second (see handlers' issueTime).
func revocationTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Second).Add(time.Second)
}

func dbTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := dbTime(*t)
	return &v
}

// canonicalID parses a uuid in any accepted spelling and returns its
// canonical lowercase form. Callers treat a malformed id as "no such row", so
// that garbage from a URL path is a 404 rather than a database error.
func canonicalID(id string) (string, bool) {
	if isCanonicalUUID(id) {
		return id, true // the usual case, without a new string
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// newUserID is the id of a user the store creates itself (a catalog
// identity's first sight): a UUID v7, like the ids of signup, so that every
// user id is time-ordered and the documents can say one thing about them.
func newUserID() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("store: new user id: %w", err)
	}
	return u.String(), nil
}

// joinScopes stores scopes comma-joined; a comma inside a scope would split it
// on the way back, so it is refused.
func joinScopes(scopes []string) (string, error) {
	for _, s := range scopes {
		if s == "" || strings.Contains(s, ",") {
			return "", fmt.Errorf("store: invalid scope %q", s)
		}
	}
	return strings.Join(scopes, ","), nil
}

// splitScopes returns nil for no scopes, in both stores alike.
func splitScopes(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func toDigest(b []byte) ([32]byte, error) {
	var d [32]byte
	if len(b) != len(d) {
		return d, fmt.Errorf("store: digest has %d bytes, want %d", len(b), len(d))
	}
	copy(d[:], b)
	return d, nil
}

// validKey checks the parts of k that the database would otherwise reject
// with a less helpful error, and returns its canonical ids and joined scopes.
func validKey(k APIKey) (id, userID, scopes string, err error) {
	var ok bool
	if id, ok = canonicalID(k.ID); !ok {
		return "", "", "", fmt.Errorf("store: invalid api key id %q", k.ID)
	}
	if userID, ok = canonicalID(k.UserID); !ok {
		// A key for a user that cannot exist.
		return "", "", "", ErrNotFound
	}
	scopes, err = joinScopes(k.Scopes)
	return id, userID, scopes, err
}

// cliStatus defaults an unset status to pending, the only state a new
// session can be in.
func cliStatus(s CLIStatus) CLIStatus {
	if s == "" {
		return CLIPending
	}
	return s
}

// touch is one key's last use, as a batch of TouchAPIKeys writes it.
type touch struct {
	id string // canonical
	at time.Time
}

// touchChunk is how many keys' use one transaction writes: a flush after a
// burst of 100 000 distinct keys neither holds the write lock for all of
// them at once nor builds them all into one statement batch.
const touchChunk = 1000

// canonicalTouches lists last-use times by canonical id, sorted by id (so
// that concurrent writers lock rows in one order), dropping malformed ids
// (they match no key) and keeping the latest time when two spellings of one
// id collide.
func canonicalTouches(used map[string]time.Time) []touch {
	out := make([]touch, 0, len(used))
	for id, t := range used {
		if c, ok := canonicalID(id); ok {
			out = append(out, touch{id: c, at: dbTime(t)})
		}
	}
	slices.SortFunc(out, func(a, b touch) int {
		if c := strings.Compare(a.id, b.id); c != 0 {
			return c
		}
		return b.at.Compare(a.at) // latest first, kept by Compact
	})
	return slices.CompactFunc(out, func(a, b touch) bool { return a.id == b.id })
}

// inChunks calls write with touches, touchChunk at a time, until one fails.
func inChunks(touches []touch, write func([]touch) error) error {
	for len(touches) > 0 {
		n := min(len(touches), touchChunk)
		if err := write(touches[:n]); err != nil {
			return err
		}
		touches = touches[n:]
	}
	return nil
}

// isCanonicalUUID reports whether id is a uuid in the spelling canonicalID
// returns: lowercase hex in groups of 8-4-4-4-12.
func isCanonicalUUID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
