package tlsfiles

import (
	"context"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long Watch waits after the last change in a watched
// directory before it reloads: a rotation writes two files (or swaps a
// symlink after writing a new directory), and reading between the steps
// would refuse a half-written pair. Well inside the 2 s promised.
const settle = 250 * time.Millisecond

// Watch reloads the pair whenever something changes in the directories of
// its files, until ctx ends. The directories are watched, not the files:
// a file replaced by rename, or a Kubernetes Secret whose "..data" symlink
// is swapped, is a new inode that a watch on the old file would never
// report. A watch that cannot be set up (no inotify instances left) is
// logged and Watch returns; Reload (SIGHUP) still works.
func (p *Pair) Watch(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		p.opt.Log.Error("tls certificate files are not watched; reload with SIGHUP", "err", err)
		return
	}
	defer w.Close()
	for _, dir := range p.dirs() {
		if err := w.Add(dir); err != nil {
			p.opt.Log.Error("tls certificate directory is not watched; reload with SIGHUP", "dir", dir, "err", err)
			return
		}
	}
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case _, ok := <-w.Events:
			if !ok {
				return
			}
			timer.Reset(settle)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			// An overflowed queue lost events: reload to be sure.
			p.opt.Log.Warn("tls certificate watch error", "err", err)
			timer.Reset(settle)
		case <-timer.C:
			_ = p.Reload() // a refusal is logged and observed by Reload
		}
	}
}

// dirs are the directories holding the pair's files, each once.
func (p *Pair) dirs() []string {
	d := []string{filepath.Dir(p.certFile), filepath.Dir(p.keyFile)}
	slices.Sort(d)
	return slices.Compact(d)
}
