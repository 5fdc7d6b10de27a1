package store

import (
	"context"
	"time"
)

// ChangeWatcher is implemented by stores that can notice, cheaply, that some
// other connection (another process, such as the admin command, or another
// handle on the same database) committed a change. A cache in front of the
// store uses it to drop what it holds when it cannot be told precisely what
// changed. The SQLite store implements it; PostgreSQL does not (deployments
// with more than one replica share a Redis cache instead).
type ChangeWatcher interface {
	// WatchChanges polls every interval and calls changed after each poll
	// that saw a commit made since the previous one, or could not tell: once
	// when the watch starts (what changed before went unseen) and whenever
	// the database cannot be asked. It returns when ctx ends. changed runs
	// on the watching goroutine and should be quick.
	WatchChanges(ctx context.Context, every time.Duration, changed func())
}
