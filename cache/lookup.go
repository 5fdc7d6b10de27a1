package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/redis/rueidis"

	"github.com/zectre/zectre-auth/store"
)

// APIKeyByDigest implements authn.Directory. A warm lookup is a front-tier
// hit and allocates nothing. The returned key is shared: see Store.
func (s *Store) APIKeyByDigest(ctx context.Context, digest [32]byte) (store.APIKey, error) {
	if e, ok := s.front.key(digest); ok {
		s.opt.Observer.Lookup(KindKey, TierFront, hitOf(e.found))
		return e.result()
	}
	s.opt.Observer.Lookup(KindKey, TierFront, Miss)
	return s.keyMiss(ctx, digest)
}

// keyMiss is apart from APIKeyByDigest so that what its closures capture
// does not move to the heap on the hit path too.
func (s *Store) keyMiss(ctx context.Context, digest [32]byte) (store.APIKey, error) {
	snap := s.front.snapKey(digest)
	m := miss[*keyEntry]{
		kind: KindKey,
		name: s.keyName(digest),
		load: func(ctx context.Context) (*keyEntry, error) {
			k, err := s.Store.APIKeyByDigest(ctx, digest)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			return newKeyEntry(k, err == nil), nil
		},
		decode: decodeKey,
		cached: func() (*keyEntry, bool) { return s.front.key(digest) },
		put:    func(e *keyEntry, snap snapshot) { s.front.putKey(digest, e, snap) },
	}
	e, err := join(ctx, s, flightKey('k', digest[:], snap), m, snap)
	if err != nil {
		return store.APIKey{}, err
	}
	return e.result()
}

// UserByID implements authn.Directory. The user never carries a password
// hash; see Store.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	if e, ok := s.front.user(id); ok {
		s.opt.Observer.Lookup(KindUser, TierFront, hitOf(e.found))
		return e.result()
	}
	return s.userMiss(ctx, id)
}

func (s *Store) userMiss(ctx context.Context, id string) (store.User, error) {
	// Entries are kept under the canonical spelling, the one the stores
	// return and changes are published under.
	u, err := uuid.Parse(id)
	if err != nil {
		return store.User{}, store.ErrNotFound // not a lookup: no tier is asked
	}
	if canonical := u.String(); canonical != id {
		id = canonical
		if e, ok := s.front.user(id); ok {
			s.opt.Observer.Lookup(KindUser, TierFront, hitOf(e.found))
			return e.result()
		}
	}
	s.opt.Observer.Lookup(KindUser, TierFront, Miss)
	snap := s.front.snapUser(id)
	m := miss[*userEntry]{
		kind: KindUser,
		name: s.userName(id),
		load: func(ctx context.Context) (*userEntry, error) {
			u, err := s.Store.UserByID(ctx, id)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			return newUserEntry(u, err == nil), nil
		},
		decode: decodeUser,
		cached: func() (*userEntry, bool) { return s.front.user(id) },
		put:    func(e *userEntry, snap snapshot) { s.front.putUser(id, e, snap) },
	}
	e, err := join(ctx, s, flightKey('u', []byte(id), snap), m, snap)
	if err != nil {
		return store.User{}, err
	}
	return e.result()
}

// miss is one front-tier miss: where the entry lives in Redis, how to read
// it from the store, and where to put it.
type miss[E entry] struct {
	kind   Kind
	name   string
	load   func(context.Context) (E, error) // a negative entry for ErrNotFound
	decode func(string) (E, error)
	cached func() (E, bool)
	put    func(E, snapshot)
}

// errSkipRedis sends a lookup to the store: Redis failed, or held a value
// this version cannot read.
var errSkipRedis = errors.New("cache: answer from the store")

// flightKey names a miss for singleflight. It includes the generations the
// lookup saw, so that a lookup that starts after an invalidation never joins
// a read that began before it.
func flightKey(kind byte, id []byte, snap snapshot) string {
	b := make([]byte, 0, 1+len(id)+16)
	b = append(b, kind)
	b = append(b, id...)
	b = binary.LittleEndian.AppendUint64(b, snap.epoch)
	b = binary.LittleEndian.AppendUint64(b, snap.stripe)
	return string(b)
}

// join collapses concurrent misses of one entry into one read. The read runs
// detached from the first caller's cancellation (its calls have their own
// timeouts); each caller stops waiting when its own ctx ends.
func join[E entry](ctx context.Context, s *Store, fkey string, m miss[E], snap snapshot) (E, error) {
	ch := s.flights.DoChan(fkey, func() (any, error) {
		return m.fetch(context.WithoutCancel(ctx), s, snap)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			var zero E
			return zero, r.Err
		}
		return r.Val.(E), nil
	case <-ctx.Done():
		var zero E
		return zero, ctx.Err()
	}
}

// fetch reads through Redis when it is configured and healthy, else from the
// store into the front tier for a short time.
func (m miss[E]) fetch(ctx context.Context, s *Store, snap snapshot) (E, error) {
	// A lookup that missed just before the previous read of this entry put
	// it, and asked just after that read ended, finds it here.
	if e, ok := m.cached(); ok {
		return e, nil
	}
	if s.redis != nil && s.health.ok() {
		e, err := m.viaRedis(ctx, s, snap)
		if !errors.Is(err, errSkipRedis) {
			return e, err
		}
	}
	e, err := m.fromStore(ctx, s)
	if err != nil {
		return e, err
	}
	e.setTTL(s.localTTL(e.isFound()))
	m.put(e, snap)
	return e, nil
}

// fromStore reads the entry from the store. A found record is a store-tier
// Hit, a missing one a Miss.
func (m miss[E]) fromStore(ctx context.Context, s *Store) (E, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opt.StoreTimeout)
	defer cancel()
	e, err := m.load(ctx)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			s.opt.Observer.StoreError(m.kind)
		}
		return e, err
	}
	r := Hit
	if !e.isFound() {
		r = Miss
	}
	s.opt.Observer.Lookup(m.kind, TierStore, r)
	return e, nil
}

// viaRedis reads the entry from Redis (tracked, so its next change is
// reported); on a Redis miss it fills Redis from the store with SET NX.
func (m miss[E]) viaRedis(ctx context.Context, s *Store, snap snapshot) (E, error) {
	var zero E
	e, err := m.readRedis(ctx, s, snap)
	if !rueidis.IsRedisNil(err) {
		return e, err
	}
	fill, err := m.fromStore(ctx, s)
	if err != nil {
		return zero, err
	}
	stored, err := s.redisFill(ctx, m.name, fill.redisValue(), s.redisTTL(fill.isFound()))
	switch {
	case err != nil:
		s.health.failed(err)
		fill.setTTL(s.opt.FallbackTTL)
		m.put(fill, snap)
		return fill, nil
	case stored:
		// The read above made Redis track this key for us, so our own SET
		// is reported back to us as an invalidation, which may arrive after
		// the SET's reply. Until it does, the Redis client's cache still
		// holds the miss; the entry answers meanwhile. Its snapshot is from
		// before the read, so that invalidation takes it out (or keeps it
		// out), and the next lookup reads the value back, tracked.
		fill.setTTL(s.redisTTL(fill.isFound()))
		m.put(fill, snap)
		return fill, nil
	}
	// Someone else's value got there first: a concurrent fill or a
	// published change (a tombstone, maybe). It wins over what we read.
	e, err = m.readRedis(ctx, s, s.front.snap(snap.i))
	if rueidis.IsRedisNil(err) {
		return fill, nil // gone again already; answer without caching
	}
	return e, err
}

// readRedis reads the entry and puts it in the front tier. It returns
// rueidis.Nil on a Redis miss and errSkipRedis when Redis failed.
func (m miss[E]) readRedis(ctx context.Context, s *Store, snap snapshot) (E, error) {
	var zero E
	v, left, err := s.redisGet(ctx, m.name, s.opt.TTL)
	if rueidis.IsRedisNil(err) {
		s.health.succeeded()
		s.opt.Observer.Lookup(m.kind, TierRedis, Miss)
		return zero, err
	}
	if err != nil {
		s.health.failed(err)
		return zero, errSkipRedis
	}
	s.health.succeeded()
	e, err := m.decode(v)
	if err != nil {
		s.opt.Log.Warn("undecodable cache entry in redis, reading the store", "key", m.name)
		s.opt.Observer.Lookup(m.kind, TierRedis, Miss)
		return zero, errSkipRedis
	}
	s.opt.Observer.Lookup(m.kind, TierRedis, hitOf(e.isFound()))
	ttl := s.redisTTL(e.isFound())
	if left >= 0 && left < ttl {
		ttl = left
	}
	e.setTTL(ttl)
	m.put(e, snap)
	return e, nil
}

// redisTTL is the life of an entry in Redis, and of one read from it.
func (s *Store) redisTTL(found bool) time.Duration {
	if found {
		return s.opt.TTL
	}
	return s.opt.NegativeTTL
}

// localTTL is the front-tier life of an entry read from the store. Only a
// running change watch lets it live long; otherwise no invalidation can
// reach it.
func (s *Store) localTTL(found bool) time.Duration {
	if s.redis == nil && s.watching.Load() {
		return s.redisTTL(found)
	}
	return s.opt.FallbackTTL
}
