package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Open connects to the database named by url and applies any pending
// migrations before returning. Supported forms:
//
//	postgres://user:pass@host:5432/db?sslmode=disable (or postgresql://)
//	sqlite://./data/zectre-auth.db (relative to the working directory)
//	sqlite:///var/lib/zectre-auth/zectre-auth.db (absolute)
//
// For SQLite the parent directory is created (0700) and a new database file
// is created 0600. Failing to reach the database is ErrUnavailable.
func Open(ctx context.Context, url string) (Store, error) {
	s, _, err := open(ctx, url)
	return s, err
}

// Migrate applies the pending migrations to the database named by url (same
// forms as Open) and returns the names of those it applied, such as
// "001_init", in order; none when the schema was already current. On error it
// also returns the migrations applied before the failure. It is safe to run
// while other processes Open the same database.
func Migrate(ctx context.Context, url string) ([]string, error) {
	s, applied, err := open(ctx, url)
	if err != nil {
		return applied, err
	}
	return applied, s.Close()
}

// OpenExisting opens a database that exists and has every migration
// applied (same forms as Open), and creates or migrates nothing: no SQLite
// file or directory, no schema. The admin commands use it, where a fresh
// database made at a mistyped path or from the wrong directory would only
// hide the mistake. A missing SQLite file is ErrNoDatabase, a schema that
// lacks migrations ErrNotMigrated.
func OpenExisting(ctx context.Context, url string) (Store, error) {
	if scheme, rest, ok := strings.Cut(url, "://"); ok && strings.EqualFold(scheme, "sqlite") {
		path := filepath.Clean(rest)
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%w: no file %s", ErrNoDatabase, path)
		}
	}
	b, err := connect(ctx, url)
	if err != nil {
		return nil, err
	}
	missing, err := pending(ctx, b)
	if err == nil && len(missing) > 0 {
		err = fmt.Errorf("%w: %s not applied", ErrNotMigrated, strings.Join(missing, ", "))
	}
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// backend is a Store the runner can migrate.
type backend interface {
	Store
	migrator
}

func open(ctx context.Context, url string) (Store, []string, error) {
	b, err := connect(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	applied, err := migrate(ctx, b)
	if err != nil {
		_ = b.Close()
		return nil, applied, err
	}
	return b, applied, nil
}

func connect(ctx context.Context, url string) (backend, error) {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return nil, fmt.Errorf("store: database url has no scheme (want postgres://, postgresql:// or sqlite://)")
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return openPostgres(ctx, url)
	case "sqlite":
		return openSQLite(ctx, rest)
	}
	// The url is not echoed: it may hold a password.
	return nil, fmt.Errorf("store: unsupported database url scheme %q (want postgres://, postgresql:// or sqlite://)", scheme)
}
