package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

var _ ChangeWatcher = (*sqliteStore)(nil)

// WatchChanges implements ChangeWatcher with PRAGMA data_version, which
// changes on a connection whenever another connection commits. It must ask
// one and the same connection every time (values of different connections
// are not comparable), so it opens a connection of its own for the watch
// rather than pinning one of the reader pool's. Its own process's writer is
// "another connection" too: commits made here are reported as well, which
// costs a cache refill, never a stale read.
func (s *sqliteStore) WatchChanges(ctx context.Context, every time.Duration, changed func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	var w *dataVersionWatch
	defer func() { w.close() }()
	for {
		if w == nil {
			// Whatever changed before the watch (re)started went unseen.
			w, _ = s.openDataVersionWatch(ctx)
			changed()
		}
		if w != nil {
			moved, err := w.poll(ctx)
			if err != nil {
				w.close()
				w = nil
			}
			if moved || err != nil {
				changed()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// dataVersionWatch is one pinned connection and the last data_version it
// reported.
type dataVersionWatch struct {
	db   *sql.DB
	conn *sql.Conn
	last int64
}

// openDataVersionWatch opens a one-connection pool on the store's database
// file, pins its connection and reads the first data_version.
func (s *sqliteStore) openDataVersionWatch(ctx context.Context) (*dataVersionWatch, error) {
	var file string
	err := s.reader.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file)
	if err != nil {
		return nil, sqliteError(err)
	}
	if file == "" {
		return nil, errors.New("store: sqlite database has no file to watch")
	}
	db, err := openSQLiteDB(ctx, "file:"+sqliteURIPath(file)+"?"+sqlitePragmas+"&_pragma=query_only(1)", 1)
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		_ = db.Close()
		return nil, sqliteError(err)
	}
	w := &dataVersionWatch{db: db, conn: conn}
	if w.last, err = w.read(ctx); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *dataVersionWatch) read(ctx context.Context) (int64, error) {
	var v int64
	if err := w.conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: sqlite data_version: %w", sqliteError(err))
	}
	return v, nil
}

// poll reports whether data_version moved since the last poll.
func (w *dataVersionWatch) poll(ctx context.Context) (bool, error) {
	v, err := w.read(ctx)
	if err != nil {
		return false, err
	}
	moved := v != w.last
	w.last = v
	return moved, nil
}

func (w *dataVersionWatch) close() {
	if w == nil {
		return
	}
	_ = w.conn.Close()
	_ = w.db.Close()
}
