// Package cache holds what the service keeps in memory or in Redis between
// requests: the identity cache in front of the store (API key and user
// lookups, see Store), rate-limit counters, and the write-behind buffer of API
// key use. Without Redis configured, everything here is in-process and serves
// one replica; with Redis, every replica shares the entries and the counters,
// and revocations reach every replica through Redis client-side caching
// invalidations.
package cache
