package store

import (
	"context"
	"fmt"
	"time"
)

var _ ChangeWatcher = (*sqliteStore)(nil)

// WatchChanges implements ChangeWatcher with PRAGMA data_version, which
// changes on a connection whenever another connection commits. It asks the
// store's one writer connection: this process writes only through it, so
// only other processes' commits (the admin command, another process on the
// same file) move it. The process's own writes are not reported: its cache
// publishes them itself, and the key-use flush every few seconds would
// otherwise empty the cache each time.
//
// Values of different connections are not comparable, so a replaced writer
// connection (after an error) starts a new baseline, and is reported as a
// change, as is every failed read.
func (s *sqliteStore) WatchChanges(ctx context.Context, every time.Duration, changed func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	var (
		last     int64
		lastConn any // the driver connection last read; nil: no baseline
	)
	for {
		v, conn, err := s.writerDataVersion(ctx)
		switch {
		case err != nil:
			lastConn = nil
			changed()
		case conn != lastConn:
			// (Re)starting: whatever changed before this baseline went unseen.
			last, lastConn = v, conn
			changed()
		case v != last:
			last = v
			changed()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// writerDataVersion reads data_version on the writer connection, and names
// that connection (the driver's connection value) so that a replaced one is
// noticed.
func (s *sqliteStore) writerDataVersion(ctx context.Context) (int64, any, error) {
	c, err := s.writer.Conn(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("store: sqlite data_version: %w", sqliteError(err))
	}
	defer c.Close()
	var id any
	if err := c.Raw(func(dc any) error { id = dc; return nil }); err != nil {
		return 0, nil, fmt.Errorf("store: sqlite data_version: %w", sqliteError(err))
	}
	var v int64
	if err := c.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return 0, nil, fmt.Errorf("store: sqlite data_version: %w", sqliteError(err))
	}
	return v, id, nil
}
