package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFiles embed.FS

// dialect is what the migration runner needs to know about one database
// flavour: where its SQL files live and how to keep the schema_migrations
// bookkeeping in its SQL.
type dialect struct {
	dir         string // under migrations/
	createTable string
	hasTable    string // no argument: whether schema_migrations exists
	isApplied   string // one argument: version; yields a bool
	markApplied string // two arguments: version, name
}

// migrationTx is a transaction that already holds the dialect's migration
// lock, so that processes starting together apply each migration once.
type migrationTx interface {
	exec(ctx context.Context, sql string, args ...any) error
	queryBool(ctx context.Context, sql string, args ...any) (bool, error)
	commit(ctx context.Context) error
	rollback(ctx context.Context) error
}

// migrator is implemented by each store.
type migrator interface {
	dialect() dialect
	beginMigration(ctx context.Context) (migrationTx, error)
}

type migration struct {
	version int
	name    string // without the version prefix
	file    string // file name without .sql, as reported to the caller
	sql     string
}

// migrate applies the pending migrations of m's dialect in version order, each
// in its own transaction, and returns the ones it applied. On error, the
// migrations applied before the failing one stay applied and are returned.
func migrate(ctx context.Context, m migrator) ([]string, error) {
	d := m.dialect()
	all, err := loadMigrations(d.dir)
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, mg := range all {
		done, err := applyMigration(ctx, m, d, mg)
		if err != nil {
			return applied, fmt.Errorf("store: migration %s: %w", mg.file, err)
		}
		if done {
			applied = append(applied, mg.file)
		}
	}
	return applied, nil
}

// pending returns the migrations of m's dialect not applied yet, without
// writing anything: the bookkeeping table is not created when it is
// missing, since then every migration is pending. It holds the migration
// lock while it reads, so a migration in progress is waited for.
func pending(ctx context.Context, m migrator) (_ []string, err error) {
	d := m.dialect()
	all, err := loadMigrations(d.dir)
	if err != nil {
		return nil, err
	}
	tx, err := m.beginMigration(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.rollback(context.WithoutCancel(ctx)) }()
	exists, err := tx.queryBool(ctx, d.hasTable)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, mg := range all {
		done := false
		if exists {
			if done, err = tx.queryBool(ctx, d.isApplied, mg.version); err != nil {
				return nil, err
			}
		}
		if !done {
			out = append(out, mg.file)
		}
	}
	return out, nil
}

func applyMigration(ctx context.Context, m migrator, d dialect, mg migration) (applied bool, err error) {
	tx, err := m.beginMigration(ctx)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			_ = tx.rollback(context.WithoutCancel(ctx))
		}
	}()
	// Creating the bookkeeping table under the lock avoids the catalog race
	// that CREATE TABLE IF NOT EXISTS has on PostgreSQL.
	if err = tx.exec(ctx, d.createTable); err != nil {
		return false, err
	}
	done, err := tx.queryBool(ctx, d.isApplied, mg.version)
	if err != nil {
		return false, err
	}
	if done {
		return false, tx.commit(ctx)
	}
	if err = tx.exec(ctx, mg.sql); err != nil {
		return false, err
	}
	if err = tx.exec(ctx, d.markApplied, mg.version, mg.name); err != nil {
		return false, err
	}
	if err = tx.commit(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// loadMigrations reads migrations/<dir>/NNN_name.sql files, sorted by version.
func loadMigrations(dir string) ([]migration, error) {
	root := path.Join("migrations", dir)
	entries, err := fs.ReadDir(migrationFiles, root)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries { // ReadDir sorts by name, and names start with the zero-padded version
		stem, ok := strings.CutSuffix(e.Name(), ".sql")
		if !ok || e.IsDir() {
			continue
		}
		num, name, ok := strings.Cut(stem, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 || name == "" {
			return nil, fmt.Errorf("store: migration file %q is not named NNN_name.sql", e.Name())
		}
		if len(out) > 0 && out[len(out)-1].version >= version {
			return nil, fmt.Errorf("store: migration %q repeats or reorders version %d", e.Name(), version)
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(root, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: version, name: name, file: stem, sql: string(body)})
	}
	return out, nil
}
