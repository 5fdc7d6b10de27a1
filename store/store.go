// Package store persists users, API keys and CLI login sessions behind one
// small interface, with a PostgreSQL (pgx) and an SQLite implementation.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Every implementation returns exactly these (wrapped or
// not) so that callers can map them with errors.Is.
var (
	// ErrNotFound: no row matches.
	ErrNotFound = errors.New("store: not found")
	// ErrEmailExists: another user already has this email (case-insensitively).
	ErrEmailExists = errors.New("store: email already registered")
	// ErrSessionUsed: the CLI session was already completed (or delivered).
	ErrSessionUsed = errors.New("store: cli session already used")
	// ErrSessionExpired: the CLI session is past its expiry.
	ErrSessionExpired = errors.New("store: cli session expired")
	// ErrUnavailable wraps failures to reach the database itself.
	ErrUnavailable = errors.New("store: database unavailable")
	// ErrNoDatabase: OpenExisting found no SQLite database file.
	ErrNoDatabase = errors.New("store: no database")
	// ErrNotMigrated: OpenExisting found a database whose schema lacks
	// migrations.
	ErrNotMigrated = errors.New("store: database not migrated")
)

// User is an account. Email is stored lowercased.
type User struct {
	ID           string
	Email        string
	Name         *string
	PasswordHash string // PHC string; empty for users that cannot log in with a password
	IsAdmin      bool
	Disabled     bool
	CreatedAt    time.Time
	// TokensValidAfter refuses the user's tokens (own and catalog) whose
	// iat is before it; zero when none was ever revoked. Whole seconds, the
	// one after the revocation.
	TokensValidAfter time.Time
}

// APIKey is the stored form of an API key: never the raw key, only its
// SHA-256 digest.
type APIKey struct {
	ID         string
	UserID     string
	Name       string
	Prefix     string
	Digest     [32]byte
	Scopes     []string
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	CreatedAt  time.Time
}

// CLIStatus is the state of a CLI login session.
type CLIStatus string

const (
	// CLIPending: initiated, waiting for the browser side to complete it.
	CLIPending CLIStatus = "pending"
	// CLICompleted: completed; the sealed key waits for the CLI's next poll.
	CLICompleted CLIStatus = "completed"
	// CLIDelivered: the key was handed to the CLI once and erased.
	CLIDelivered CLIStatus = "delivered"
)

// CLISession is a CLI login handoff. It is found by the SHA-256 digest of its
// code; the code itself is never stored. SealedKey holds the raw API key
// encrypted with a key derived from the code, and only between completion and
// delivery.
type CLISession struct {
	CodeDigest [32]byte
	DeviceName string
	Status     CLIStatus
	UserID     string // set once completed
	SealedKey  []byte // set between completion and delivery
	ExpiresAt  time.Time
	CreatedAt  time.Time
}

// Store is the persistence the service needs. Implementations are safe for
// concurrent use.
type Store interface {
	// CreateUser inserts u (ID, Email lowercased, CreatedAt set by the caller).
	// A duplicate email, in any case, is ErrEmailExists, also under races.
	CreateUser(ctx context.Context, u User) error
	// UserByEmail looks an email up case-insensitively.
	UserByEmail(ctx context.Context, email string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)
	// SetPasswordHash replaces a user's hash (rehash after a parameter rise).
	SetPasswordHash(ctx context.Context, userID, hash string) error
	// SetDisabled and SetAdmin change an account by email and return it.
	SetDisabled(ctx context.Context, email string, disabled bool) (User, error)
	SetAdmin(ctx context.Context, email string, admin bool) (User, error)
	// RevokeTokens refuses, from now on, every token issued to the account
	// up to at, in whole seconds: TokensValidAfter becomes the start of the
	// second after at. It never moves the time back.
	// API keys are not affected. It returns the account.
	RevokeTokens(ctx context.Context, email string, at time.Time) (User, error)

	// UserBySubject returns the user linked to an external identity (the
	// issuer and subject of a catalog token, compared exactly); ErrNotFound
	// when the identity was never linked.
	UserBySubject(ctx context.Context, issuer, subject string) (User, error)
	// LinkSubject creates u (as CreateUser would) and links it to issuer and
	// subject, atomically, and returns the stored user. The new user's id is
	// a UUID v7 the store assigns; u.ID is not read. When the identity is
	// already linked, also by a concurrent caller, nothing is created and the
	// linked user is returned, so racing first sights converge on one user.
	// When u's email belongs to a user not linked to this identity, nothing
	// is created and the error is ErrEmailExists: an email is never a reason
	// to link.
	LinkSubject(ctx context.Context, issuer, subject string, u User) (User, error)

	CreateAPIKey(ctx context.Context, k APIKey) error
	APIKeyByDigest(ctx context.Context, digest [32]byte) (APIKey, error)
	// ListAPIKeys returns a user's keys, newest first.
	ListAPIKeys(ctx context.Context, userID string) ([]APIKey, error)
	// DeleteAPIKey deletes a key only if it belongs to userID; otherwise
	// ErrNotFound. It returns the deleted key.
	DeleteAPIKey(ctx context.Context, userID, keyID string) (APIKey, error)
	// RollAPIKey replaces a key of userID, atomically: next(old) builds the
	// new key from the old one, which is inserted, and the old key's
	// expires_at becomes graceEnd, or stays earlier if it already expired
	// sooner (a roll never lengthens a key's life). A key that is not
	// userID's is ErrNotFound and nothing changes. It returns both keys as
	// stored.
	RollAPIKey(ctx context.Context, userID, keyID string, graceEnd time.Time, next func(old APIKey) APIKey) (old, created APIKey, err error)
	// TouchAPIKeys records last use times, in one batch. Unknown ids are ignored.
	TouchAPIKeys(ctx context.Context, used map[string]time.Time) error

	CreateCLISession(ctx context.Context, s CLISession) error
	CLISessionByDigest(ctx context.Context, digest [32]byte) (CLISession, error)
	// CompleteCLISession atomically moves a pending, unexpired session to
	// completed, storing userID and sealed, and inserts key. Otherwise nothing
	// changes and the error is ErrNotFound, ErrSessionUsed or ErrSessionExpired.
	CompleteCLISession(ctx context.Context, digest [32]byte, now time.Time, key APIKey, sealed []byte) error
	// DeliverCLISession atomically moves a completed session to delivered,
	// erasing and returning its sealed key. Exactly one concurrent caller wins;
	// the others get ErrSessionUsed.
	DeliverCLISession(ctx context.Context, digest [32]byte) (CLISession, error)
	// DeleteExpiredCLISessions removes sessions that expired before cutoff.
	DeleteExpiredCLISessions(ctx context.Context, cutoff time.Time) (int64, error)

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error
}
