package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/store"
)

// memoryResult is zectre-auth's resident memory before and after n
// distinct API keys were created and verified once each (all warm in its
// cache).
type memoryResult struct {
	keys          int
	before, after int64 // VmRSS, bytes
	peak          int64 // VmHWM, bytes
	// What the resident memory is made of at the end (RssAnon, RssFile,
	// RssShmem): the process's own memory, mapped files (the binary), and
	// shared memory (SQLite's WAL index).
	anon, file, shmem int64
	// The Go runtime's view at the end (its /metrics): heap in use, heap
	// kept but free, and everything it took from the OS.
	heapInuse, heapRetained, goSys int64
}

// measureMemory creates n keys for the load's account, has
// each verified once through forward-auth, and reads the resident memory of
// the zectre-auth process around it.
func (e *environment) measureMemory(n int) (memoryResult, error) {
	r := memoryResult{keys: n, before: procStatus(e.authPID, "VmRSS")}
	keys := make([]string, n)
	var next atomic.Int64
	var failed atomic.Value
	work := func(do func(i int) error) {
		next.Store(0)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= n || failed.Load() != nil {
						return
					}
					if err := do(i); err != nil {
						failed.CompareAndSwap(nil, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	client := &fasthttp.Client{MaxConnsPerHost: 16}
	// The keys go straight into the database (creating 100 000 through the
	// API would take minutes); zectre-auth learns of them when asked.
	db, err := store.Open(context.Background(), e.databaseURL())
	if err != nil {
		return r, err
	}
	defer db.Close()
	owner, err := db.UserByEmail(context.Background(), e.email)
	if err != nil {
		return r, err
	}
	work(func(i int) error {
		nk, err := authn.GenerateKey()
		if err != nil {
			return err
		}
		keys[i] = nk.Raw
		return db.CreateAPIKey(context.Background(), store.APIKey{
			ID: uuid.NewString(), UserID: owner.ID, Name: fmt.Sprintf("memory %d", i), Prefix: nk.Prefix,
			Digest: nk.Digest, Scopes: []string{"apps:read"}, CreatedAt: time.Now().UTC(),
		})
	})
	if err, _ := failed.Load().(error); err != nil {
		return r, fmt.Errorf("creating keys: %w", err)
	}
	work(func(i int) error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(e.auth + "/api/v1/auth/verify")
		req.Header.Set("X-API-Key", keys[i])
		if err := client.Do(req, resp); err != nil {
			return err
		}
		if resp.StatusCode() != fasthttp.StatusOK {
			return fmt.Errorf("verify: %d %s", resp.StatusCode(), resp.Body())
		}
		return nil
	})
	if err, _ := failed.Load().(error); err != nil {
		return r, fmt.Errorf("verifying keys: %w", err)
	}
	// Resident memory settles once the warm-up's garbage is collected and
	// the runtime has handed back what it no longer needs.
	time.Sleep(10 * time.Second)
	r.after, r.peak = procStatus(e.authPID, "VmRSS"), procStatus(e.authPID, "VmHWM")
	r.anon, r.file, r.shmem = procStatus(e.authPID, "RssAnon"), procStatus(e.authPID, "RssFile"), procStatus(e.authPID, "RssShmem")
	if m, err := e.goMemStats(); err == nil {
		r.heapInuse = m["go_memstats_heap_inuse_bytes"]
		r.heapRetained = m["go_memstats_heap_idle_bytes"] - m["go_memstats_heap_released_bytes"]
		r.goSys = m["go_memstats_sys_bytes"]
	}
	if e.o.profile != "" {
		if err := e.fetch("/debug/pprof/heap", "memory-heap.pprof"); err != nil {
			fmt.Fprintln(os.Stderr, "heap profile:", err)
		}
	}
	return r, nil
}

// procStatus reads a memory line (in kB) of /proc/<pid>/status, in bytes.
func procStatus(pid int, field string) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// goMemStats reads the go_memstats_* gauges of zectre-auth's /metrics.
func (e *environment) goMemStats() (map[string]int64, error) {
	resp, err := http.Get(e.admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "go_memstats_") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = int64(v)
		}
	}
	return out, sc.Err()
}
