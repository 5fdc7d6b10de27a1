package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"
)

// defaultConnectTimeout bounds a connection attempt when the url sets no
// connect_timeout, so an unreachable server is ErrUnavailable rather than a
// hang until the caller's deadline.
const defaultConnectTimeout = 5 * time.Second

// migrationLockKey is the pg_advisory_xact_lock key that serialises
// migrations across processes; any constant unique to this service will do.
const migrationLockKey int64 = 0x7a65637472650001 // "zectre" + 1

// Constraint names from migrations/postgres that map to sentinel errors.
const pgEmailIndex = "users_email_lower_key"

type postgresStore struct {
	pool *pgxpool.Pool
}

var _ backend = (*postgresStore)(nil)

func openPostgres(ctx context.Context, url string) (*postgresStore, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse postgres url: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, pgError(err)
	}
	s := &postgresStore{pool: pool}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *postgresStore) Ping(ctx context.Context) error {
	return pgError(s.pool.Ping(ctx))
}

func (s *postgresStore) Close() error {
	s.pool.Close()
	return nil
}

// pgError maps driver errors to the package's sentinels. Sentinels already
// returned by store code pass through unchanged.
func pgError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if pgUnavailable(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505" && pe.ConstraintName == pgEmailIndex:
			return ErrEmailExists
		case pe.Code == "23503": // foreign_key_violation: the user is gone
			return ErrNotFound
		}
	}
	return err
}

// pgUnavailable tells failures to reach the server from failures of a query.
func pgUnavailable(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &connectErr), pgconn.Timeout(err), errors.As(err, &netErr),
		errors.Is(err, puddle.ErrClosedPool), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &pe):
		// Class 08 is connection exceptions; the others are the server
		// shutting down, starting up or out of connection slots.
		return strings.HasPrefix(pe.Code, "08") ||
			pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	}
	return false
}

func (s *postgresStore) dialect() dialect {
	return dialect{
		dir: "postgres",
		createTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`,
		hasTable:    `SELECT to_regclass('schema_migrations') IS NOT NULL`,
		isApplied:   `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`,
		markApplied: `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`,
	}
}

func (s *postgresStore) beginMigration(ctx context.Context) (migrationTx, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, pgError(err)
	}
	// Held until commit or rollback, so a second process waits here and then
	// sees the migration as applied.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, pgError(err)
	}
	return pgMigrationTx{tx}, nil
}

type pgMigrationTx struct{ tx pgx.Tx }

func (t pgMigrationTx) exec(ctx context.Context, sql string, args ...any) error {
	_, err := t.tx.Exec(ctx, sql, args...)
	return pgError(err)
}

func (t pgMigrationTx) queryBool(ctx context.Context, sql string, args ...any) (bool, error) {
	var b bool
	err := t.tx.QueryRow(ctx, sql, args...).Scan(&b)
	return b, pgError(err)
}

func (t pgMigrationTx) commit(ctx context.Context) error   { return pgError(t.tx.Commit(ctx)) }
func (t pgMigrationTx) rollback(ctx context.Context) error { return pgError(t.tx.Rollback(ctx)) }
