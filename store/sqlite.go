package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Every connection waits this long for a lock before SQLITE_BUSY; busy_timeout
// comes first so the other pragmas wait too.
const sqlitePragmas = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"

// sqliteReaderCache is each reader connection's page cache (SQLite's
// default is 2 MiB per connection). The readers answer front-tier misses,
// lookups of one row by an index: what a cache of 512 KiB keeps, the
// B-trees' upper levels, is what such a lookup reads again; the leaves come
// from the operating system's page cache. Four readers at the default held
// 8 MiB of the process's memory once 100 000 keys had been read.
const sqliteReaderCache = "&_pragma=cache_size(-512)"

// sqliteBusyTimeout is busy_timeout above: how long a connection waits for
// another process's lock.
const sqliteBusyTimeout = 5 * time.Second

// sqliteStore writes through one connection and reads through a pool. A
// single writer whose transactions BEGIN IMMEDIATE serialises writes in the
// process, so racing signups meet the unique constraint one after the other
// (ErrEmailExists) instead of failing with SQLITE_BUSY on a lock upgrade;
// WAL lets the readers proceed while it writes.
type sqliteStore struct {
	writer *sql.DB
	reader *sql.DB
}

var _ backend = (*sqliteStore)(nil)

func openSQLite(ctx context.Context, path string) (*sqliteStore, error) {
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.ContainsRune(path, '?') {
		// A memory database would not be shared between the two pools, and
		// the query string is this package's to write.
		return nil, fmt.Errorf("store: sqlite url must name a database file, as in sqlite://./data/zectre-auth.db")
	}
	path = filepath.Clean(path)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create database directory: %w", err)
	}
	// Created here so the file is private from the start; SQLite would
	// create it 0644 and gives its -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	_ = f.Close()

	name := "file:" + sqliteURIPath(path) + "?" + sqlitePragmas
	writer, err := openSQLiteWriter(ctx, name+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	// Opened after the writer has switched the file to WAL; query_only
	// guards against a write slipping onto a reader connection.
	reader, err := openSQLiteDB(ctx, name+"&_pragma=query_only(1)"+sqliteReaderCache, max(4, runtime.GOMAXPROCS(0)))
	if err != nil {
		_ = writer.Close()
		return nil, err
	}
	return &sqliteStore{writer: writer, reader: reader}, nil
}

// openSQLiteWriter opens the writer connection. Switching a new file to WAL
// takes an exclusive lock and answers SQLITE_BUSY at once, without waiting
// for busy_timeout, when another process (a second replica starting, the
// migrate command) holds the file just then: that is retried for as long as
// busy_timeout would wait.
func openSQLiteWriter(ctx context.Context, dsn string) (*sql.DB, error) {
	deadline := time.Now().Add(sqliteBusyTimeout)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		db, err := openSQLiteDB(ctx, dsn, 1)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return db, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

func openSQLiteDB(ctx context.Context, dsn string, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, sqliteError(err)
	}
	return db, nil
}

// sqliteURIPath escapes the characters besides '?' (refused earlier) that
// SQLite's URI filenames give a meaning to, so the file name opens as itself.
func sqliteURIPath(path string) string {
	return strings.NewReplacer("%", "%25", "#", "%23").Replace(filepath.ToSlash(path))
}

func (s *sqliteStore) Ping(ctx context.Context) error {
	return sqliteError(s.reader.PingContext(ctx))
}

func (s *sqliteStore) Close() error {
	return errors.Join(s.reader.Close(), s.writer.Close())
}

// sqliteError maps driver errors to the package's sentinels. Sentinels already
// returned by store code pass through unchanged.
func sqliteError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	// database/sql does not export its "database is closed" error.
	if errors.Is(err, sql.ErrConnDone) || err.Error() == "sql: database is closed" {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch code := se.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE && strings.Contains(se.Error(), "users.email"):
		return ErrEmailExists
	case code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY: // the user is gone
		return ErrNotFound
	default:
		switch code & 0xff { // the primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	return err
}

func (s *sqliteStore) dialect() dialect {
	return dialect{
		dir: "sqlite",
		createTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
		) STRICT`,
		hasTable:    `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`,
		isApplied:   `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`,
		markApplied: `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`,
	}
}

// beginMigration needs no extra lock: the writer's BEGIN IMMEDIATE takes the
// database's write lock, which other processes wait on via busy_timeout.
func (s *sqliteStore) beginMigration(ctx context.Context) (migrationTx, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, sqliteError(err)
	}
	return sqliteMigrationTx{tx}, nil
}

type sqliteMigrationTx struct{ tx *sql.Tx }

func (t sqliteMigrationTx) exec(ctx context.Context, sql string, args ...any) error {
	_, err := t.tx.ExecContext(ctx, sql, args...)
	return sqliteError(err)
}

func (t sqliteMigrationTx) queryBool(ctx context.Context, sql string, args ...any) (bool, error) {
	var b bool
	err := t.tx.QueryRowContext(ctx, sql, args...).Scan(&b)
	return b, sqliteError(err)
}

func (t sqliteMigrationTx) commit(context.Context) error   { return sqliteError(t.tx.Commit()) }
func (t sqliteMigrationTx) rollback(context.Context) error { return sqliteError(t.tx.Rollback()) }

// Times are stored as unix microseconds, UTC.

func toMicros(t time.Time) int64 { return dbTime(t).UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func toNullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: toMicros(*t), Valid: true}
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// withWriteTx runs fn in a writer transaction (BEGIN IMMEDIATE), committing
// when it returns nil.
func (s *sqliteStore) withWriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return sqliteError(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return sqliteError(err)
	}
	return sqliteError(tx.Commit())
}
