package tlsfiles

import (
	"context"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long Watch waits after the first change of a burst
// before it reloads: a rotation writes two files (or swaps a symlink after
// writing a new directory), and reading between the steps would refuse a
// half-written pair. Counted from the first change, not the last, so that
// a directory that never stops changing cannot put the reload off; well
// inside the 2 s promised.
const settle = 250 * time.Millisecond

// secretData is the symlink a Kubernetes Secret volume swaps to publish a
// new version of all its files at once.
const secretData = "..data"

// Watch reloads the pair whenever one of its files, or a Secret volume's
// "..data" symlink, changes, until ctx ends. The directories are watched,
// not the files: a file replaced by rename, or a Kubernetes Secret whose
// "..data" symlink is swapped, is a new inode that a watch on the old file
// would never report. Other names in the directories are passed over.
// fsnotify gives the events of the platform's own mechanism (inotify,
// kqueue, ReadDirectoryChangesW) with their rename and symlink semantics
// sorted out, so nothing polls the files. A watch that cannot be set up
// (no inotify instances left) is logged and Watch returns; Reload (SIGHUP)
// still works.
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
	names := map[string]bool{filepath.Base(p.certFile): true, filepath.Base(p.keyFile): true, secretData: true}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	pending := false
	soon := func() {
		if !pending {
			pending = true
			timer.Reset(settle)
		}
	}
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if names[filepath.Base(ev.Name)] {
				soon()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			// An overflowed queue lost events: reload to be sure.
			p.opt.Log.Warn("tls certificate watch error", "err", err)
			soon()
		case <-timer.C:
			pending = false
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
