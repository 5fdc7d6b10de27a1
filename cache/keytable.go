package cache

import (
	"encoding/binary"
	"strings"
	"time"
	"unsafe"

	"github.com/VictoriaMetrics/fastcache"
	"github.com/google/uuid"
)

// keyTable holds the front tier's API key entries packed as bytes in
// fastcache, whose 64 KiB chunks are mapped outside the Go heap and indexed
// by maps of integers. A warm key then costs about 100 bytes that the
// garbage collector neither scans nor counts towards its next collection
// (the heap may grow to twice the live heap before one), instead of about
// 600 bytes of heap as a decoded entry in a map of pointers did: the
// difference between a service with 100 000 warm keys in 60 MiB and in 120.
//
// The front tier also keeps the keys in use decoded (front.hot), so that
// the table is read for the others only.
//
// fastcache evicts the oldest entries of a bucket when the bucket is full
// and has no per-entry expiry, so an entry carries its own deadline and the
// front-tier epoch it was read in; a lookup treats an entry past either as
// absent. An entry is at most a few hundred bytes, far below the 64 KiB a
// fastcache entry may take.
type keyTable struct {
	c    *fastcache.Cache
	base time.Time // deadlines count from here on the monotonic clock
}

// keyTableBytesPerKey sizes the table from Options.Size: a key of two uuid
// ids and an interned scope list takes 4 bytes of fastcache's header, the
// 32-byte digest and 59 bytes of value, a key with other ids or scopes a
// little more. fastcache never holds less than 32 MiB (about 330 000 such
// keys) and takes the memory as entries arrive.
const keyTableBytesPerKey = 128

// The packed value: flags, epoch, deadline, expiry, scope set, then the ids
// (two uuids in 32 bytes, or a length and the text), then with
// scopesInline the scopes joined by spaces.
const (
	flagFound   = 1 << 0
	flagExpires = 1 << 1
	flagUUIDs   = 1 << 2

	offEpoch    = 1
	offDeadline = offEpoch + 8
	offExpires  = offDeadline + 8
	offScopes   = offExpires + 8
	offIDs      = offScopes + 2

	// scopesInline: the scope list is not interned (too many distinct
	// lists); it follows the ids.
	scopesInline = 0xFFFF
)

func newKeyTable(size int) *keyTable {
	return &keyTable{c: fastcache.New(size * keyTableBytesPerKey), base: time.Now()}
}

// now is the time on the table's clock, which only moves forward.
func (t *keyTable) now() int64 { return int64(time.Since(t.base)) }

// get returns d's entry if it was put in epoch and has not expired, with the
// life it has left as its ttl. A found entry's ids are one new string.
func (t *keyTable) get(d *[32]byte, epoch uint64) (keyEntry, bool) {
	var buf [160]byte
	v, ok := t.c.HasGet(buf[:0], d[:])
	if !ok || len(v) < offIDs || binary.LittleEndian.Uint64(v[offEpoch:]) != epoch {
		return keyEntry{}, false
	}
	left := time.Duration(int64(binary.LittleEndian.Uint64(v[offDeadline:])) - t.now())
	if left <= 0 {
		return keyEntry{}, false
	}
	flags := v[0]
	if flags&flagFound == 0 {
		return keyEntry{ttl: left, epoch: epoch}, true
	}
	e := keyEntry{found: true, epoch: epoch, ttl: left}
	if flags&flagExpires != 0 {
		e.expiresAt = fromMicros(int64(binary.LittleEndian.Uint64(v[offExpires:])))
	}
	rest := v[offIDs:]
	if flags&flagUUIDs != 0 {
		if len(rest) < 32 {
			return keyEntry{}, false
		}
		e.ids, e.idLen = formatUUIDs(rest[:16], rest[16:32]), 36
		rest = rest[32:]
	} else {
		if len(rest) < 4 {
			return keyEntry{}, false
		}
		idLen, n := binary.LittleEndian.Uint16(rest), int(binary.LittleEndian.Uint16(rest[2:]))
		if len(rest) < 4+n || int(idLen) > n {
			return keyEntry{}, false
		}
		e.ids, e.idLen = string(rest[4:4+n]), uint32(idLen)
		rest = rest[4+n:]
	}
	if i := binary.LittleEndian.Uint16(v[offScopes:]); i != scopesInline {
		e.scopes = scopeSet(i)
	} else {
		e.scopes = internScopes(strings.Fields(string(rest)))
	}
	return e, true
}

// set puts e for d with e.epoch, to live e.ttl.
func (t *keyTable) set(d *[32]byte, e *keyEntry) {
	if e.ttl <= 0 {
		return
	}
	var buf [160]byte
	v := buf[:offIDs]
	var flags byte
	if e.found {
		flags |= flagFound
	}
	binary.LittleEndian.PutUint64(v[offEpoch:], e.epoch)
	binary.LittleEndian.PutUint64(v[offDeadline:], uint64(t.now()+int64(e.ttl)))
	if !e.expiresAt.IsZero() {
		flags |= flagExpires
		binary.LittleEndian.PutUint64(v[offExpires:], uint64(micros(e.expiresAt)))
	}
	i := scopeIndex(e.scopes)
	binary.LittleEndian.PutUint16(v[offScopes:], i)
	if e.found {
		if len(e.ids) > 0xFFFF {
			return // no store holds such ids; not worth a format of its own
		}
		if a, b, ok := uuidPair(e.id(), e.userID()); ok {
			flags |= flagUUIDs
			v = append(append(v, a[:]...), b[:]...)
		} else {
			v = binary.LittleEndian.AppendUint16(v, uint16(e.idLen))
			v = binary.LittleEndian.AppendUint16(v, uint16(len(e.ids)))
			v = append(v, e.ids...)
		}
		if i == scopesInline {
			v = append(v, strings.Join(e.scopes, " ")...)
		}
	}
	v[0] = flags
	t.c.Set(d[:], v)
}

func (t *keyTable) del(d *[32]byte) { t.c.Del(d[:]) }

// reset drops every entry (their memory is kept for new ones).
func (t *keyTable) reset() { t.c.Reset() }

// uuidPair parses two ids that are uuids in their canonical spelling, the
// only spelling formatUUIDs gives back.
func uuidPair(a, b string) (ua, ub uuid.UUID, ok bool) {
	if len(a) != 36 || len(b) != 36 {
		return ua, ub, false
	}
	ua, errA := uuid.Parse(a)
	ub, errB := uuid.Parse(b)
	if errA != nil || errB != nil || ua.String() != a || ub.String() != b {
		return ua, ub, false
	}
	return ua, ub, true
}

// formatUUIDs spells two 16-byte uuids canonically, one after the other,
// in one allocation.
func formatUUIDs(a, b []byte) string {
	out := make([]byte, 72)
	formatUUID(out[:36], a)
	formatUUID(out[36:], b)
	return unsafe.String(&out[0], len(out))
}

func formatUUID(dst, u []byte) {
	_, _ = dst[35], u[15]
	j := 0
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst[j] = '-'
			j++
		}
		dst[j], dst[j+1] = hexDigits[b>>4], hexDigits[b&0xf]
		j += 2
	}
}

const hexDigits = "0123456789abcdef"
