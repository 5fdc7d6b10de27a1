// Command zectre-loadtest drives a running zectre-auth with wrk and prints
// req/s, p50 and p99 for forward-auth and proxy mode next to the baselines
// measured in the same run: a bare fasthttp handler, the upstream hit
// directly, and nginx as a plain reverse proxy (when installed).
//
//	go build -o bin/zectre-auth ./cmd/zectre-auth
//	go run ./cmd/zectre-loadtest -binary bin/zectre-auth [-redis redis://127.0.0.1:6379]
//
// It starts everything itself on loopback: the bare handler and the upstream
// in this process, a JWKS server for catalog tokens, zectre-auth (embedded
// SQLite, or PostgreSQL with -database) and nginx, each as its own process.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"
)

type options struct {
	binary      string
	redis       string
	database    string
	duration    time.Duration
	connections int
	threads     int
	rounds      int
	only        string
	profile     string
	keys        int
}

func main() {
	var o options
	flag.StringVar(&o.binary, "binary", "bin/zectre-auth", "zectre-auth binary to measure")
	flag.StringVar(&o.redis, "redis", "", "ZECTRE_AUTH_REDIS_URL for zectre-auth (empty: in-process cache)")
	flag.StringVar(&o.database, "database", "", "ZECTRE_AUTH_DATABASE_URL (empty: embedded SQLite in a temporary dir)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "wrk duration of each measurement")
	flag.IntVar(&o.connections, "connections", 50, "wrk connections")
	flag.IntVar(&o.threads, "threads", 1, "wrk threads")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each scenario runs once per round, interleaved, and the median is reported")
	flag.StringVar(&o.only, "only", "", "comma-separated scenario names to run (default: all)")
	flag.IntVar(&o.keys, "keys", 100_000, "distinct API keys to create and warm after the load, for the resident memory figure (0: skip)")
	flag.StringVar(&o.profile, "profile", "", "`dir` to write a CPU profile of zectre-auth for each of its scenarios (last round; turns admin_pprof on)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "zectre-loadtest:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("wrk is not installed (Debian package wrk): %w", err)
	}
	env, err := newEnvironment(o)
	if err != nil {
		return err
	}
	defer env.close()

	scenarios := env.scenarios()
	if o.only != "" {
		keep := map[string]bool{}
		for _, n := range strings.Split(o.only, ",") {
			keep[strings.TrimSpace(n)] = true
		}
		var s []scenario
		for _, sc := range scenarios {
			if keep[sc.name] {
				s = append(s, sc)
			}
		}
		scenarios = s
	}
	results := map[string][]result{}
	for round := 1; round <= o.rounds; round++ {
		for _, sc := range scenarios {
			var prof <-chan error
			if o.profile != "" && round == o.rounds && sc.profiled {
				prof = env.profile(sc.name, o.duration)
			}
			r, err := runWrk(o, sc)
			if prof != nil {
				if perr := <-prof; perr != nil {
					fmt.Fprintf(os.Stderr, "profile of %s: %v\n", sc.name, perr)
				}
			}
			if err != nil {
				return fmt.Errorf("%s: %w", sc.name, err)
			}
			fmt.Fprintf(os.Stderr, "round %d %-22s %10.0f req/s  p50 %-9s p99 %-9s cpu/req %-8s errors %d\n",
				round, sc.name, r.rps, r.p50, r.p99, r.cpuPerReq, r.errors)
			results[sc.name] = append(results[sc.name], r)
		}
	}
	report(o, env, scenarios, results)
	if o.keys > 0 {
		fmt.Fprintf(os.Stderr, "creating and verifying %d API keys...\n", o.keys)
		m, err := env.measureMemory(o.keys)
		if err != nil {
			return err
		}
		mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
		fmt.Printf("\nzectre-auth resident memory: %s after the load; %s with %d distinct API keys warm, 10 s after warming them (peak %s)\n",
			mib(m.before), mib(m.after), m.keys, mib(m.peak))
		fmt.Printf("Resident memory then: %s the process's own, %s mapped files (the binary), %s shared memory\n",
			mib(m.anon), mib(m.file), mib(m.shmem))
		fmt.Printf("Go runtime then: heap in use %s, free heap not yet returned to the OS %s, all memory the runtime has mapped %s\n",
			mib(m.heapInuse), mib(m.heapRetained), mib(m.goSys))
	}
	return nil
}

// median picks the round with the median throughput.
func median(rs []result) result {
	s := append([]result(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].rps < s[j].rps })
	return s[len(s)/2]
}

func report(o options, env *environment, scenarios []scenario, results map[string][]result) {
	fmt.Printf("\nzectre-loadtest: wrk -t%d -c%d -d%s, %d round(s), median per scenario; cache: %s; database: %s\n\n",
		o.threads, o.connections, o.duration, o.rounds, env.cacheName(), env.databaseName())
	cores := runtime.NumCPU()
	fmt.Printf("| Scenario | req/s | p50 | p99 | server CPU per request | req/s %d cores of the server would serve | non-2xx |\n|---|---:|---:|---:|---:|---:|---:|\n", cores)
	for _, sc := range scenarios {
		r := median(results[sc.name])
		capacity := "–"
		if r.cpuPerReq > 0 {
			capacity = fmt.Sprintf("%.0f", float64(cores)*float64(time.Second)/float64(r.cpuPerReq))
		}
		fmt.Printf("| %s | %.0f | %s | %s | %s | %s | %d |\n", sc.title, r.rps, r.p50, r.p99,
			r.cpuPerReq.Round(10*time.Nanosecond), capacity, r.errors)
	}
	fmt.Println()
	// Each ratio is the median of the ratios within one round: the two
	// measurements of a pair ran seconds apart, under the same load from
	// whatever else the machine was doing.
	byRPS := func(r result) float64 { return r.rps }
	ratio := func(label, a, b string) { printRatio(label, results[a], results[b], byRPS) }
	ratio("bare handler on zectre-auth's server settings / bare fasthttp handler", "bare-served", "bare")
	ratio("forward-auth, cached API key / bare fasthttp handler", "verify-key", "bare")
	ratio("forward-auth, HS256 token / bare fasthttp handler", "verify-hs256", "bare")
	ratio("forward-auth, catalog RS256 token / bare fasthttp handler", "verify-rs256", "bare")
	ratio("proxy mode, API key / upstream direct", "proxy-key", "upstream")
	ratio("proxy mode, API key / nginx reverse proxy", "proxy-key", "nginx")
	fmt.Println()
	// The same pairs by server CPU per request: requests per CPU second,
	// what one request costs each server whatever else used the machine.
	perCPU := func(r result) float64 {
		if r.cpuPerReq <= 0 {
			return 0
		}
		return float64(time.Second) / float64(r.cpuPerReq)
	}
	cpuRatio := func(label, a, b string) { printRatio(label, results[a], results[b], perCPU) }
	cpuRatio("CPU per request, bare handler / forward-auth with a cached API key", "verify-key", "bare")
	cpuRatio("CPU per request, bare handler / forward-auth with a catalog RS256 token", "verify-rs256", "bare")
	cpuRatio("CPU per request, nginx / proxy mode", "proxy-key", "nginx")
}

// printRatio prints the median over rounds of value(a)/value(b), and each
// round's; rounds where either value is 0 are left out.
func printRatio(label string, ra, rb []result, value func(result) float64) {
	if len(ra) == 0 || len(ra) != len(rb) {
		return
	}
	var per []float64
	for i := range ra {
		if va, vb := value(ra[i]), value(rb[i]); va > 0 && vb > 0 {
			per = append(per, va/vb)
		}
	}
	if len(per) == 0 {
		return
	}
	sort.Float64s(per)
	fmt.Printf("%s: %.2f (per round: %s)\n", label, per[len(per)/2], formatRatios(per))
}

func formatRatios(r []float64) string {
	parts := make([]string, len(r))
	for i, v := range r {
		parts[i] = fmt.Sprintf("%.2f", v)
	}
	return strings.Join(parts, " ")
}
