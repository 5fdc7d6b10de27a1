package cache

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/zectre/zectre-auth/store"
)

// keyEntry is a decoded API key lookup: the key, or that there is none. The
// front tier keeps it packed (see keyTable) and decodes a new one per hit.
//
// An entry keeps only what a credential check reads (id, owner, scopes,
// expiry). Scope lists are interned, so keys with the same scopes share one.
type keyEntry struct {
	ids       string // the key's id followed by its user's: one allocation
	idLen     uint32 // where the user id starts in ids
	found     bool
	scopes    []string
	expiresAt time.Time     // zero: the key does not expire
	ttl       time.Duration // front-tier life from when it is put
	epoch     uint64        // front-tier epoch it was read in (see front)
}

func newFoundKey(id, userID string, scopes []string) *keyEntry {
	return &keyEntry{ids: id + userID, idLen: uint32(len(id)), found: true, scopes: internScopes(scopes)}
}

func (e *keyEntry) id() string     { return e.ids[:e.idLen] }
func (e *keyEntry) userID() string { return e.ids[e.idLen:] }

// userEntry is a decoded user lookup, without the password hash.
type userEntry struct {
	user  store.User
	found bool
	ttl   time.Duration
	epoch uint64
}

// result is the key as the cache answers it: ID, UserID, Scopes and
// ExpiresAt, all shared with the entry (which is never changed).
func (e *keyEntry) result() (store.APIKey, error) {
	if !e.found {
		return store.APIKey{}, store.ErrNotFound
	}
	k := store.APIKey{ID: e.id(), UserID: e.userID(), Scopes: e.scopes}
	if !e.expiresAt.IsZero() {
		k.ExpiresAt = &e.expiresAt
	}
	return k, nil
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

// keyWire is the Redis form of an API key: what a credential check reads.
// The digest is the Redis key's own name; the name, prefix and times other
// than the expiry are left out (LastUsedAt changes on every use), as
// nothing on the lookup path reads them. Times are unix microseconds, as in
// the stores.
type keyWire struct {
	ID        string   `json:"i"`
	UserID    string   `json:"u"`
	Scopes    []string `json:"s"`
	ExpiresAt *int64   `json:"e,omitempty"`
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
	// ValidAfter is TokensValidAfter (Unix microseconds), absent when zero:
	// the revocation time travels with the record every request reads.
	ValidAfter *int64 `json:"v,omitempty"`
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func (e *keyEntry) encode() string {
	w := keyWire{ID: e.id(), UserID: e.userID(), Scopes: e.scopes}
	if !e.expiresAt.IsZero() {
		x := micros(e.expiresAt)
		w.ExpiresAt = &x
	}
	b, _ := json.Marshal(w) // cannot fail: strings, ints and a slice
	return string(b)
}

// decodeKey turns a Redis value into an entry for digest. Any error leaves a
// nil entry.
func decodeKey(v string) (*keyEntry, error) {
	if v == negativeValue {
		return &keyEntry{}, nil
	}
	var w keyWire
	if err := json.Unmarshal([]byte(v), &w); err != nil || w.ID == "" || w.UserID == "" {
		return nil, errBadEntry
	}
	e := newFoundKey(w.ID, w.UserID, w.Scopes)
	if w.ExpiresAt != nil {
		e.expiresAt = fromMicros(*w.ExpiresAt)
	}
	return e, nil
}

func encodeUser(u store.User) string {
	w := userWire{
		ID: u.ID, Email: u.Email, Name: u.Name, IsAdmin: u.IsAdmin, Disabled: u.Disabled,
		CreatedAt: micros(u.CreatedAt),
	}
	if !u.TokensValidAfter.IsZero() {
		v := micros(u.TokensValidAfter)
		w.ValidAfter = &v
	}
	b, _ := json.Marshal(w)
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
	u := store.User{
		ID: w.ID, Email: w.Email, Name: w.Name, IsAdmin: w.IsAdmin, Disabled: w.Disabled,
		CreatedAt: fromMicros(w.CreatedAt),
	}
	if w.ValidAfter != nil {
		u.TokensValidAfter = fromMicros(*w.ValidAfter)
	}
	return &userEntry{found: true, user: u}, nil
}

// newKeyEntry and newUserEntry wrap a store answer (found or ErrNotFound),
// or a key being created. The key gets the shape it has when read back from
// Redis or the store, whichever tier answers: canonical ids, UTC
// microsecond times, no LastUsedAt, and scopes of its own.
func newKeyEntry(k store.APIKey, found bool) *keyEntry {
	if !found {
		return &keyEntry{}
	}
	e := newFoundKey(canonical(k.ID), canonical(k.UserID), k.Scopes)
	if k.ExpiresAt != nil {
		e.expiresAt = k.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	return e
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
	return e.encode()
}

func (e *userEntry) redisValue() string {
	if !e.found {
		return negativeValue
	}
	return encodeUser(e.user)
}

// scopeSets interns scope lists: most keys of a deployment share a few
// (["*"], a read-only set, …), so that one slice serves them all, and the
// key table stores a list as its index. It is bounded: past maxScopeSets
// distinct lists, new ones get their own copy (and the key table stores
// them inline).
var scopeSets struct {
	index sync.Map // strings.Join(scopes, " ") → uint16
	mu    sync.Mutex
	lists atomic.Pointer[[][]string] // by index; only ever appended to
}

const maxScopeSets = 4096

// internScopes returns a list equal to scopes that is never modified,
// shared with every other key of the same scopes when possible.
func internScopes(scopes []string) []string {
	if i := scopeIndex(scopes); i != scopesInline {
		return scopeSet(i)
	}
	return slices.Clip(slices.Clone(scopes))
}

// scopeIndex interns scopes and returns their index, or scopesInline when
// the table is full. Scopes contain no spaces, so joining with one is
// unambiguous.
func scopeIndex(scopes []string) uint16 {
	name := strings.Join(scopes, " ")
	if v, ok := scopeSets.index.Load(name); ok {
		return v.(uint16)
	}
	scopeSets.mu.Lock()
	defer scopeSets.mu.Unlock()
	if v, ok := scopeSets.index.Load(name); ok {
		return v.(uint16)
	}
	var lists [][]string
	if p := scopeSets.lists.Load(); p != nil {
		lists = *p
	}
	if len(lists) >= maxScopeSets {
		return scopesInline
	}
	// Readers hold earlier headers of the same array: appending writes only
	// past their length, and the new header is published before the index.
	lists = append(lists, slices.Clip(slices.Clone(scopes)))
	scopeSets.lists.Store(&lists)
	i := uint16(len(lists) - 1)
	scopeSets.index.Store(name, i)
	return i
}

// scopeSet is the list scopeIndex gave index i.
func scopeSet(i uint16) []string { return (*scopeSets.lists.Load())[i] }
