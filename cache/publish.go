package cache

import (
	"context"
	"errors"
	"time"

	"github.com/zectre/zectre-auth/store"
)

// The writes below change what APIKeyByDigest or UserByID answer. Each
// publishes after the store call succeeded: it evicts the local entry at
// once and, with Redis, SETs the new entry unconditionally. The SET makes
// Redis invalidate the key on every replica that read it, and, being
// unconditional, it beats any replica's fill (SET NX) of what it read before
// the change; for a deleted key that value is a tombstone.
//
// If Redis refuses the publication, the change still succeeds here, is
// logged, and is published again from the store's current state by Run; if
// this process ends first, the other replicas' entries heal when their TTL
// runs out.

// CreateAPIKey creates k and publishes it (replacing a negative entry).
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	if err := s.Store.CreateAPIKey(ctx, k); err != nil {
		return err
	}
	s.keyChanged(ctx, k.Digest, newKeyEntry(k, true))
	return nil
}

// DeleteAPIKey deletes the key and publishes a tombstone for its digest.
func (s *Store) DeleteAPIKey(ctx context.Context, userID, keyID string) (store.APIKey, error) {
	k, err := s.Store.DeleteAPIKey(ctx, userID, keyID)
	if err != nil {
		return k, err
	}
	s.keyChanged(ctx, k.Digest, newKeyEntry(store.APIKey{}, false))
	return k, nil
}

// CompleteCLISession completes the session and publishes the key it created.
func (s *Store) CompleteCLISession(ctx context.Context, digest [32]byte, now time.Time, key store.APIKey, sealed []byte) error {
	if err := s.Store.CompleteCLISession(ctx, digest, now, key, sealed); err != nil {
		return err
	}
	s.keyChanged(ctx, key.Digest, newKeyEntry(key, true))
	return nil
}

// SetDisabled changes the account and publishes its new state.
func (s *Store) SetDisabled(ctx context.Context, email string, disabled bool) (store.User, error) {
	u, err := s.Store.SetDisabled(ctx, email, disabled)
	if err != nil {
		return u, err
	}
	s.userChanged(ctx, u.ID, newUserEntry(u, true))
	return u, nil
}

// RevokeTokens moves the account's revocation time and publishes its new
// state, the way SetDisabled does: every replica refuses the older tokens as
// soon as it reads the user again.
func (s *Store) RevokeTokens(ctx context.Context, email string, at time.Time) (store.User, error) {
	u, err := s.Store.RevokeTokens(ctx, email, at)
	if err != nil {
		return u, err
	}
	s.userChanged(ctx, u.ID, newUserEntry(u, true))
	return u, nil
}

// SetAdmin changes the account and publishes its new state.
func (s *Store) SetAdmin(ctx context.Context, email string, admin bool) (store.User, error) {
	u, err := s.Store.SetAdmin(ctx, email, admin)
	if err != nil {
		return u, err
	}
	s.userChanged(ctx, u.ID, newUserEntry(u, true))
	return u, nil
}

// keyChanged and userChanged publish one change. After the SET they put the
// new entry in the front tier, so that this process reads its own write at
// once: until Redis's invalidation of the key reaches this process, the
// Redis client's own cache may still hold the old value. The entry's
// snapshot is from before the SET, so that invalidation takes it out again
// and later reads are tracked ones; should none arrive (this process was not
// tracking the key), it lives only FallbackTTL.
func (s *Store) keyChanged(ctx context.Context, d [32]byte, e *keyEntry) {
	s.front.evictKey(d)
	defer s.opt.Changes.KeyChanged(d)
	if s.redis == nil {
		return
	}
	snap := s.front.snapKey(d)
	if err := s.redisPut(ctx, s.keyName(d), e.redisValue(), s.redisTTL(e.found)); err != nil {
		s.publishFailed(err, func(p *pending) { p.addKey(d) })
		return
	}
	e.ttl = s.opt.FallbackTTL
	s.front.putKey(d, e, snap)
}

func (s *Store) userChanged(ctx context.Context, id string, e *userEntry) {
	s.front.evictUser(id)
	defer s.opt.Changes.UserChanged(id)
	if s.redis == nil {
		return
	}
	snap := s.front.snapUser(id)
	if err := s.redisPut(ctx, s.userName(id), e.redisValue(), s.redisTTL(e.found)); err != nil {
		s.publishFailed(err, func(p *pending) { p.addUser(id) })
		return
	}
	e.ttl = s.opt.FallbackTTL
	s.front.putUser(id, e, snap)
}

func (s *Store) publishFailed(err error, add func(*pending)) {
	s.health.failed(err)
	s.opt.Log.Error("publishing a change to redis failed; retrying, other replicas may answer from their cache until then", "err", err)
	s.pendingMu.Lock()
	add(&s.pending)
	s.pendingMu.Unlock()
}

// pending is the set of entries whose publication failed. Retries publish
// the store's state at retry time, never the value that failed: a later
// change must not be overwritten by an earlier one.
type pending struct {
	keys  map[[32]byte]struct{}
	users map[string]struct{}
}

func (p *pending) addKey(d [32]byte) {
	if p.keys == nil {
		p.keys = make(map[[32]byte]struct{})
	}
	p.keys[d] = struct{}{}
}

func (p *pending) addUser(id string) {
	if p.users == nil {
		p.users = make(map[string]struct{})
	}
	p.users[id] = struct{}{}
}

func (s *Store) republishLoop(ctx context.Context) {
	t := time.NewTicker(s.opt.RepublishInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.republish(ctx)
		}
	}
}

// republish tries the pending publications once each; those that fail stay.
func (s *Store) republish(ctx context.Context) {
	s.pendingMu.Lock()
	todo := s.pending
	s.pending = pending{}
	s.pendingMu.Unlock()
	if len(todo.keys) == 0 && len(todo.users) == 0 {
		return
	}
	var failed pending
	for d := range todo.keys {
		if err := s.republishKey(ctx, d); err != nil {
			failed.addKey(d)
		}
	}
	for id := range todo.users {
		if err := s.republishUser(ctx, id); err != nil {
			failed.addUser(id)
		}
	}
	s.pendingMu.Lock()
	for d := range failed.keys {
		s.pending.addKey(d)
	}
	for id := range failed.users {
		s.pending.addUser(id)
	}
	s.pendingMu.Unlock()
	if len(failed.keys) == 0 && len(failed.users) == 0 {
		s.opt.Log.Info("pending cache changes published to redis", "keys", len(todo.keys), "users", len(todo.users))
	}
}

func (s *Store) republishKey(ctx context.Context, d [32]byte) error {
	sctx, cancel := context.WithTimeout(ctx, s.opt.StoreTimeout)
	k, err := s.Store.APIKeyByDigest(sctx, d)
	cancel()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	e := newKeyEntry(k, err == nil)
	s.front.evictKey(d)
	return s.redisPut(ctx, s.keyName(d), e.redisValue(), s.redisTTL(e.found))
}

func (s *Store) republishUser(ctx context.Context, id string) error {
	sctx, cancel := context.WithTimeout(ctx, s.opt.StoreTimeout)
	u, err := s.Store.UserByID(sctx, id)
	cancel()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	e := newUserEntry(u, err == nil)
	s.front.evictUser(id)
	return s.redisPut(ctx, s.userName(id), e.redisValue(), s.redisTTL(e.found))
}

// RollAPIKey rolls the key and publishes both: the new key, and the old one
// with its shortened expiry, so that every replica stops it when the grace
// period ends.
func (s *Store) RollAPIKey(ctx context.Context, userID, keyID string, graceEnd time.Time, next func(store.APIKey) store.APIKey) (store.APIKey, store.APIKey, error) {
	old, created, err := s.Store.RollAPIKey(ctx, userID, keyID, graceEnd, next)
	if err != nil {
		return old, created, err
	}
	s.keyChanged(ctx, created.Digest, newKeyEntry(created, true))
	s.keyChanged(ctx, old.Digest, newKeyEntry(old, true))
	return old, created, nil
}
