package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zectre/zectre-auth/cache"
)

// Label values of the cache metrics, indexed by the cache package's enums.
var (
	cacheKinds   = []string{cache.KindKey.String(), cache.KindUser.String()}
	cacheTiers   = []string{cache.TierFront.String(), cache.TierRedis.String(), cache.TierStore.String()}
	cacheResults = []string{cache.Hit.String(), cache.NegativeHit.String(), cache.Miss.String()}
)

func (m *Metrics) newCache() {
	m.cache = newTable(namespace+"cache_lookups_total",
		"Identity cache lookups by kind (key, user), tier (front, redis, store) and what the tier answered (hit, negative_hit: a cached \"no such key/user\", miss: the next tier is asked; at the store, miss means no such record).",
		[]string{"kind", "tier", "result"}, cacheKinds, cacheTiers, cacheResults)
	m.redisErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: namespace + "redis_errors_total",
		Help: "Failed Redis calls: lookups, fills, publications of changes, rate-limit counts.",
	})
	m.redisUp = newLazyGauge(namespace+"redis_up",
		"1 while Redis answers, 0 from its first failed call until one succeeds again; absent without Redis.")
	m.storeErrors = newTable(namespace+"store_errors_total",
		"Identity lookups that reached the database and failed because it was unavailable or did not answer in time, by kind.",
		[]string{"kind"}, cacheKinds)
	m.reg.MustRegister(m.cache, m.redisErrors, m.redisUp, m.storeErrors)
}

// Cache returns the observer to set as cache.Options.Observer.
func (m *Metrics) Cache() cache.Observer { return cacheObserver{m} }

type cacheObserver struct{ m *Metrics }

var _ cache.Observer = cacheObserver{}

func (o cacheObserver) Lookup(k cache.Kind, t cache.Tier, r cache.Result) {
	if int(k) < len(cacheKinds) && int(t) < len(cacheTiers) && int(r) < len(cacheResults) {
		o.m.cache.add3(int(k), int(t), int(r))
	}
}

func (o cacheObserver) RedisError() { o.m.redisErrors.Inc() }

func (o cacheObserver) RedisUp(up bool) {
	var v int64
	if up {
		v = 1
	}
	o.m.redisUp.store(v)
}

func (o cacheObserver) StoreError(k cache.Kind) {
	if int(k) < len(cacheKinds) {
		o.m.storeErrors.add1(int(k))
	}
}
