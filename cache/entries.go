package cache

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/store"
)

// keyEntry is a decoded API key lookup: the key, or that there is none.
// Entries are never changed after they are put in the front tier; readers
// share them.
type keyEntry struct {
	key   store.APIKey
	found bool
	ttl   time.Duration // front-tier life, read by the expiry calculator
	epoch uint64        // front-tier epoch it was read in (see front)
}

// userEntry is a decoded user lookup, without the password hash.
type userEntry struct {
	user  store.User
	found bool
	ttl   time.Duration
	epoch uint64
}

func (e *keyEntry) result() (store.APIKey, error) {
	if !e.found {
		return store.APIKey{}, store.ErrNotFound
	}
	return e.key, nil
}

func (e *userEntry) result() (store.User, error) {
	if !e.found {
		return store.User{}, store.ErrNotFound
	}
	return e.user, nil
}

// negativeValue is the Redis value of "no such key/user", also the tombstone
// a deletion leaves. Encoded entries are JSON objects, so it cannot clash.
const negativeValue = "-"

var errBadEntry = errors.New("cache: undecodable redis entry")

// keyWire is the Redis form of an API key. The digest is the Redis key's
// own name; LastUsedAt is left out, as it changes on every use and nothing on
// the lookup path reads it. Times are unix microseconds, as in the stores.
type keyWire struct {
	ID        string   `json:"i"`
	UserID    string   `json:"u"`
	Name      string   `json:"n"`
	Prefix    string   `json:"p"`
	Scopes    []string `json:"s"`
	ExpiresAt *int64   `json:"e,omitempty"`
	CreatedAt int64    `json:"c"`
}

// userWire is the Redis form of a user. It has no password hash: the cache
// serves UserByID, which the credential checks use, and password checks go
// through UserByEmail to the store. A hash never rests in Redis.
type userWire struct {
	ID        string  `json:"i"`
	Email     string  `json:"e"`
	Name      *string `json:"n,omitempty"`
	IsAdmin   bool    `json:"a,omitempty"`
	Disabled  bool    `json:"d,omitempty"`
	CreatedAt int64   `json:"c"`
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func encodeKey(k store.APIKey) string {
	w := keyWire{ID: k.ID, UserID: k.UserID, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes, CreatedAt: micros(k.CreatedAt)}
	if k.ExpiresAt != nil {
		e := micros(*k.ExpiresAt)
		w.ExpiresAt = &e
	}
	b, _ := json.Marshal(w) // cannot fail: strings, ints and a slice
	return string(b)
}

// decodeKey turns a Redis value into an entry for digest. Any error leaves a
// nil entry.
func decodeKey(v string, digest [32]byte) (*keyEntry, error) {
	if v == negativeValue {
		return &keyEntry{}, nil
	}
	var w keyWire
	if err := json.Unmarshal([]byte(v), &w); err != nil || w.ID == "" || w.UserID == "" {
		return nil, errBadEntry
	}
	k := store.APIKey{
		ID: w.ID, UserID: w.UserID, Name: w.Name, Prefix: w.Prefix, Digest: digest,
		Scopes: w.Scopes, CreatedAt: fromMicros(w.CreatedAt),
	}
	if w.ExpiresAt != nil {
		e := fromMicros(*w.ExpiresAt)
		k.ExpiresAt = &e
	}
	return &keyEntry{key: k, found: true}, nil
}

func encodeUser(u store.User) string {
	b, _ := json.Marshal(userWire{
		ID: u.ID, Email: u.Email, Name: u.Name, IsAdmin: u.IsAdmin, Disabled: u.Disabled,
		CreatedAt: micros(u.CreatedAt),
	})
	return string(b)
}

func decodeUser(v string) (*userEntry, error) {
	if v == negativeValue {
		return &userEntry{}, nil
	}
	var w userWire
	if err := json.Unmarshal([]byte(v), &w); err != nil || w.ID == "" {
		return nil, errBadEntry
	}
	return &userEntry{found: true, user: store.User{
		ID: w.ID, Email: w.Email, Name: w.Name, IsAdmin: w.IsAdmin, Disabled: w.Disabled,
		CreatedAt: fromMicros(w.CreatedAt),
	}}, nil
}

// newKeyEntry and newUserEntry wrap a store answer (found or ErrNotFound),
// or a key being created. The key gets the shape it has when read back from
// Redis or the store, whichever tier answers: canonical ids, UTC
// microsecond times, no LastUsedAt, and scopes of its own.
func newKeyEntry(k store.APIKey, found bool) *keyEntry {
	if !found {
		return &keyEntry{}
	}
	k.ID, k.UserID = canonical(k.ID), canonical(k.UserID)
	k.Scopes = slices.Clone(k.Scopes)
	k.CreatedAt = k.CreatedAt.UTC().Truncate(time.Microsecond)
	if k.ExpiresAt != nil {
		e := k.ExpiresAt.UTC().Truncate(time.Microsecond)
		k.ExpiresAt = &e
	}
	k.LastUsedAt = nil
	return &keyEntry{key: k, found: true}
}

// canonical is the stores' spelling of a uuid; anything else stays as is.
func canonical(id string) string {
	if u, err := uuid.Parse(id); err == nil {
		return u.String()
	}
	return id
}

func newUserEntry(u store.User, found bool) *userEntry {
	if !found {
		return &userEntry{}
	}
	u.PasswordHash = ""
	return &userEntry{user: u, found: true}
}

// entry is what the shared miss path needs of either kind.
type entry interface {
	*keyEntry | *userEntry
	setTTL(time.Duration)
	isFound() bool
	redisValue() string
}

func (e *keyEntry) setTTL(d time.Duration)  { e.ttl = d }
func (e *userEntry) setTTL(d time.Duration) { e.ttl = d }
func (e *keyEntry) isFound() bool           { return e.found }
func (e *userEntry) isFound() bool          { return e.found }

func (e *keyEntry) redisValue() string {
	if !e.found {
		return negativeValue
	}
	return encodeKey(e.key)
}

func (e *userEntry) redisValue() string {
	if !e.found {
		return negativeValue
	}
	return encodeUser(e.user)
}
