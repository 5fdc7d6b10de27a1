// Package cache holds what the service keeps in memory or in Redis between
// requests: rate-limit counters and the write-behind buffer of API key use.
// Without Redis configured, everything here is in-process and serves one
// replica.
package cache
