package cache_test

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/store"
)

// BenchmarkFrontMemory100kKeys reports the memory the front tier holds for
// 100 000 distinct warm API keys of 1 000 users: the figure behind the
// service's resident memory with that many keys (docs/benchmarks.md). The
// keys live outside the Go heap, so it reports both the live heap and the
// growth of the process's resident anonymous memory (which includes the
// heap's). Run it once: -bench=FrontMemory -benchtime=1x.
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
		before, rssBefore := heapInUse(), rssAnon(b)
		for _, d := range digests {
			k, err := c.APIKeyByDigest(ctx, d)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.UserByID(ctx, k.UserID); err != nil {
				b.Fatal(err)
			}
		}
		held, rss := heapInUse()-before, rssAnon(b)-rssBefore
		b.ReportMetric(float64(held)/(1<<20), "heap-MiB/100k-keys")
		b.ReportMetric(float64(held)/keys, "heap-B/key")
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB/100k-keys")
		runtime.KeepAlive(c)
	}
}

// rssAnon is the process's resident anonymous memory (RssAnon).
func rssAnon(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status:", err)
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	b.Skip("no RssAnon in /proc/self/status")
	return 0
}

// heapInUse is the live heap after a full collection, which also hands
// the free heap back to the operating system (so that rssAnon sees only
// what is live).
func heapInUse() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
