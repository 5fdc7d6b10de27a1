package store

import (
	"fmt"
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
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// normaliseEmail matches what CreateUser stores: the lookup columns are
// case-insensitive anyway, but both stores keep one spelling.
func normaliseEmail(email string) string {
	return strings.ToLower(email)
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

// canonicalTouches keys last-use times by canonical id, dropping malformed
// ids (they match no key) and keeping the latest time when two spellings of
// one id collide.
func canonicalTouches(used map[string]time.Time) map[string]time.Time {
	out := make(map[string]time.Time, len(used))
	for id, t := range used {
		c, ok := canonicalID(id)
		if !ok {
			continue
		}
		t = dbTime(t)
		if prev, ok := out[c]; !ok || t.After(prev) {
			out[c] = t
		}
	}
	return out
}
