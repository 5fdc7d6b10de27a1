package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Helpers of the fault drills (docs/drills.md): a load of clients that count
// every answer, and what a running zectre-auth process holds.

// loadTarget is one client of a load: it sends GET url again and again,
// with each credential (header name, value) in turn.
type loadTarget struct {
	name  string
	url   string
	creds [][]string
}

// maxPhases bounds the phases of a drill (before, during, after a fault).
const maxPhases = 4

// load runs one goroutine per target, sending without pause until stop, and
// counts per phase the requests sent and those that did not end in 200
// (transport errors included).
type load struct {
	t       *testing.T
	client  *http.Client
	stopped atomic.Bool
	wg      sync.WaitGroup
	phase   atomic.Int32
	sent    [maxPhases]atomic.Int64
	failed  [maxPhases]atomic.Int64

	mu       sync.Mutex
	failures []string // the first few, for the report
}

func startLoad(t *testing.T, targets ...loadTarget) *load {
	l := &load{t: t, client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}}
	for _, tg := range targets {
		for _, c := range tg.creds {
			noteHeaders(c...)
		}
		l.wg.Go(func() {
			for i := 0; !l.stopped.Load(); i++ {
				p := l.phase.Load()
				st, detail := l.get(tg.url, tg.creds[i%len(tg.creds)])
				l.sent[p].Add(1)
				if st != 200 {
					l.failed[p].Add(1)
					l.mu.Lock()
					if len(l.failures) < 10 {
						l.failures = append(l.failures, fmt.Sprintf("phase %d, %s: %d %s", p, tg.name, st, detail))
					}
					l.mu.Unlock()
				}
			}
		})
	}
	t.Cleanup(l.stop)
	return l
}

// get sends one request; a transport error is status -1.
func (l *load) get(url string, cred []string) (int, string) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return -1, err.Error()
	}
	for i := 0; i+1 < len(cred); i += 2 {
		req.Header.Set(cred[i], cred[i+1])
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return -1, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != 200 {
		return resp.StatusCode, string(body)
	}
	return 200, ""
}

// next starts the next phase and returns its number.
func (l *load) next() int { return int(l.phase.Add(1)) }

// waitSent waits until phase p has sent at least n requests and lasted at
// least min, failing after limit (a bound on a stalled load, not a timing).
func (l *load) waitSent(p int, n int64, min, limit time.Duration) {
	l.t.Helper()
	start := time.Now()
	for l.sent[p].Load() < n || time.Since(start) < min {
		if time.Since(start) > limit {
			l.t.Fatalf("phase %d: %d requests in %s, want %d", p, l.sent[p].Load(), limit, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop ends the load and waits for the requests in flight.
func (l *load) stop() {
	l.stopped.Store(true)
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

// report returns the counts of each phase up to last, and whether any
// request failed.
func (l *load) report(last int) (string, bool) {
	var b strings.Builder
	var failed int64
	for p := 0; p <= last; p++ {
		if p > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "phase %d: %d sent, %d failed", p, l.sent[p].Load(), l.failed[p].Load())
		failed += l.failed[p].Load()
	}
	l.mu.Lock()
	for _, f := range l.failures {
		b.WriteString("\n  " + f)
	}
	l.mu.Unlock()
	return b.String(), failed > 0
}

// countingUpstream is an upstream that answers 200 and counts requests.
func countingUpstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		io.WriteString(w, "upstream ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// openFDs counts the file descriptors the server's process has open.
func (s *server) openFDs() int {
	s.t.Helper()
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/fd")
	if err != nil {
		s.t.Fatalf("open file descriptors of zectre-auth: %v", err)
	}
	return len(entries)
}

// goroutines is go_goroutines of the server's /metrics.
func (s *server) goroutines() int {
	s.t.Helper()
	n, ok := scrape(s.t, s.admin+"/metrics")["go_goroutines"]
	if !ok {
		s.t.Fatal("no go_goroutines in /metrics")
	}
	return int(n)
}

// metricSum adds up the series of m whose names start with prefix and that
// carry every label (name="value") given.
func metricSum(m map[string]float64, prefix string, labels ...string) float64 {
	var sum float64
next:
	for series, v := range m {
		if !strings.HasPrefix(series, prefix) {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(series, l) {
				continue next
			}
		}
		sum += v
	}
	return sum
}
