package cache

// Kind is what a lookup is for.
type Kind uint8

// The two kinds of cached lookup.
const (
	KindKey  Kind = iota // APIKeyByDigest
	KindUser             // UserByID
)

func (k Kind) String() string {
	if k == KindUser {
		return "user"
	}
	return "key"
}

// Tier is a layer a lookup passes through, nearest first.
type Tier uint8

// The tiers of the identity cache.
const (
	TierFront Tier = iota // in process
	TierRedis             // shared, when Redis is configured
	TierStore             // the database
)

func (t Tier) String() string {
	switch t {
	case TierRedis:
		return "redis"
	case TierStore:
		return "store"
	}
	return "front"
}

// Result is what one tier answered a lookup.
type Result uint8

// Results of a tier. At TierStore, Hit means the record exists and Miss
// that it does not (an entry saying so is cached from then on); NegativeHit
// only happens at the cache tiers.
const (
	Hit         Result = iota // an entry for an existing key or user
	NegativeHit               // a cached "no such key/user"
	Miss                      // nothing here: the next tier is asked
)

func (r Result) String() string {
	switch r {
	case NegativeHit:
		return "negative_hit"
	case Miss:
		return "miss"
	}
	return "hit"
}

// Observer learns what the cache does, for metrics. Lookup runs on every
// lookup, warm ones included, so implementations must be cheap, must not
// allocate and must not block. Options.Observer nil observes nothing.
type Observer interface {
	// Lookup reports the answer of one tier to one lookup. A front-tier
	// miss that joins another lookup's read in flight, or that finds the
	// entry put meanwhile, reports no further tier; a Redis fill that loses
	// a race with a concurrent write reports the Redis tier twice.
	Lookup(k Kind, t Tier, r Result)
	// RedisError reports a failed Redis call: a lookup, a fill, a
	// publication or a rate-limit count.
	RedisError()
	// RedisUp reports Redis reachable (at Open and after an outage) or not
	// (at the first error of an outage). It is only called with Redis
	// configured.
	RedisUp(up bool)
	// StoreError reports a store read on the lookup path that failed
	// because the database is unavailable or did not answer in time.
	StoreError(k Kind)
}

// nopObserver stands in for a nil Options.Observer, so that the lookup path
// needs no nil checks.
type nopObserver struct{}

func (nopObserver) Lookup(Kind, Tier, Result) {}
func (nopObserver) RedisError()               {}
func (nopObserver) RedisUp(bool)              {}
func (nopObserver) StoreError(Kind)           {}

// hitOf is the front or Redis result of finding e.
func hitOf(found bool) Result {
	if found {
		return Hit
	}
	return NegativeHit
}
