package cache

import (
	"encoding/binary"
	"hash/maphash"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// stripes is the number of per-key generation counters. Two keys sharing a
// stripe only cost a refused front-tier fill now and then.
const stripes = 4096

// front is the in-process tier: API keys packed outside the Go heap (see
// keyTable), so that 100 000 warm keys cost little memory, and decoded
// users, so that a warm lookup is a map hit.
//
// An entry may only be put in if nothing invalidated its key between the
// moment the read behind it began and the put; otherwise a fill racing a
// revocation could put the revoked value back. Two kinds of generation
// guard that:
//   - epoch, bumped when everything is invalidated (the Redis connection
//     dropped, Redis was flushed, the SQLite file changed). Entries carry the
//     epoch they were read in and count as absent once it has moved on, so
//     dropping everything is O(1); a background purge frees the memory.
//   - a striped generation per key hash, bumped by each key's invalidation.
//     A fill puts its entry, then re-checks its stripe and takes the entry
//     back out if the stripe moved. Checking after the put (not before)
//     closes the gap between a check and a put that an invalidation could
//     fall into.
type front struct {
	keys    *keyTable
	hot     *otter.Cache[[32]byte, *keyEntry] // the keys in use, decoded
	users   *otter.Cache[string, *userEntry]
	epoch   atomic.Uint64
	stripe  [stripes]atomic.Uint64
	seed    maphash.Seed
	purging atomic.Bool
}

// snapshot is the generations a lookup saw before it began reading.
type snapshot struct {
	epoch  uint64
	stripe uint64
	i      uint32
}

func newFront(size int) *front {
	return &front{
		keys: newKeyTable(size),
		hot: otter.Must(&otter.Options[[32]byte, *keyEntry]{
			MaximumSize: hotKeys,
			ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[[32]byte, *keyEntry]) time.Duration {
				return e.Value.ttl
			}),
		}),
		users: otter.Must(&otter.Options[string, *userEntry]{
			// Users are fewer than keys: most have a key or two.
			MaximumSize: max(size/2, 1),
			ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *userEntry]) time.Duration {
				return e.Value.ttl
			}),
		}),
		seed: maphash.MakeSeed(),
	}
}

// Digests are SHA-256 outputs: their first bytes are already a good hash.
func keyStripe(d [32]byte) uint32 { return uint32(binary.LittleEndian.Uint64(d[:8]) % stripes) }

func (f *front) userStripe(id string) uint32 { return uint32(maphash.String(f.seed, id) % stripes) }

func (f *front) snap(i uint32) snapshot {
	return snapshot{epoch: f.epoch.Load(), stripe: f.stripe[i].Load(), i: i}
}

func (f *front) snapKey(d [32]byte) snapshot { return f.snap(keyStripe(d)) }

func (f *front) snapUser(id string) snapshot { return f.snap(f.userStripe(id)) }

// hotKeys is how many keys the front tier also keeps decoded, on the heap:
// the ones in use get a lookup without a copy, a clock read of the table's
// own or an allocation, for about 1 MiB.
const hotKeys = 4096

// key returns the live entry for d, if any: from the decoded keys in use,
// else from the key table, and then decoded for the next lookups. Entries
// are never changed once a lookup can see them.
func (f *front) key(d [32]byte) (*keyEntry, bool) {
	if e, ok := f.hot.GetIfPresent(d); ok && e.epoch == f.epoch.Load() {
		return e, true
	}
	s := f.snapKey(d) // before the table is read, as for a fill
	v, ok := f.keys.get(&d, s.epoch)
	if !ok {
		return nil, false
	}
	e := &v
	// As putKey: an invalidation of d after s was taken takes it back out.
	f.hot.Set(d, e)
	if f.stripe[s.i].Load() != s.stripe {
		f.hot.Invalidate(d)
	}
	return e, true
}

func (f *front) user(id string) (*userEntry, bool) {
	e, ok := f.users.GetIfPresent(id)
	if !ok || e.epoch != f.epoch.Load() {
		return nil, false
	}
	return e, true
}

// putKey puts e for d unless d was invalidated since s was taken.
func (f *front) putKey(d [32]byte, e *keyEntry, s snapshot) {
	e.epoch = s.epoch
	f.keys.set(&d, e)
	f.hot.Invalidate(d) // the next lookup decodes the new entry
	if f.stripe[s.i].Load() != s.stripe {
		f.keys.del(&d)
	}
}

func (f *front) putUser(id string, e *userEntry, s snapshot) {
	e.epoch = s.epoch
	f.users.Set(id, e)
	if f.stripe[s.i].Load() != s.stripe {
		f.users.Invalidate(id)
	}
}

// evictKey and evictUser drop one entry and refuse fills that began before.
func (f *front) evictKey(d [32]byte) {
	f.stripe[keyStripe(d)].Add(1)
	f.keys.del(&d)
	f.hot.Invalidate(d)
}

func (f *front) evictUser(id string) {
	f.stripe[f.userStripe(id)].Add(1)
	f.users.Invalidate(id)
}

// evictAll drops every entry at once. It is called from the Redis client's
// reader goroutine, so it only bumps the epoch; the memory is freed by a
// purge in the background.
func (f *front) evictAll() {
	f.epoch.Add(1)
	if f.purging.CompareAndSwap(false, true) {
		go func() {
			defer f.purging.Store(false)
			f.keys.reset()
			f.hot.InvalidateAll()
			f.users.InvalidateAll()
		}()
	}
}
