package cache_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/store"
)

// BenchmarkFrontMemory100kKeys reports the heap the front tier holds for
// 100 000 distinct warm API keys of 1 000 users: the figure behind the
// service's resident memory with that many keys (docs/benchmarks.md). Run
// it once: -bench=FrontMemory -benchtime=1x.
func BenchmarkFrontMemory100kKeys(b *testing.B) {
	const keys, users = 100_000, 1_000
	st := sqliteStore(b)
	ctx := context.Background()
	owners := make([]store.User, users)
	for i := range owners {
		owners[i], _ = seed(b, st)
	}
	digests := make([][32]byte, keys)
	for i := range digests {
		k := newKey(owners[i%users].ID)
		if err := st.CreateAPIKey(ctx, k); err != nil {
			b.Fatal(err)
		}
		digests[i] = k.Digest
	}
	for b.Loop() {
		c := openCache(b, st, cache.Options{Size: keys + users})
		runCache(b, c) // the change watch lets in-process entries live long
		before := heapInUse()
		for _, d := range digests {
			k, err := c.APIKeyByDigest(ctx, d)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.UserByID(ctx, k.UserID); err != nil {
				b.Fatal(err)
			}
		}
		held := heapInUse() - before
		b.ReportMetric(float64(held)/(1<<20), "MiB/100k-keys")
		b.ReportMetric(float64(held)/keys, "B/key")
		runtime.KeepAlive(c)
	}
}

// heapInUse is the live heap after a full collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
