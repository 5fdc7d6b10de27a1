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
			r, err := runWrk(o, sc)
			if err != nil {
				return fmt.Errorf("%s: %w", sc.name, err)
			}
			fmt.Fprintf(os.Stderr, "round %d %-22s %10.0f req/s  p50 %-9s p99 %-9s errors %d\n",
				round, sc.name, r.rps, r.p50, r.p99, r.errors)
			results[sc.name] = append(results[sc.name], r)
		}
	}
	report(o, env, scenarios, results)
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
	fmt.Printf("| Scenario | req/s | p50 | p99 | non-2xx |\n|---|---:|---:|---:|---:|\n")
	for _, sc := range scenarios {
		r := median(results[sc.name])
		fmt.Printf("| %s | %.0f | %s | %s | %d |\n", sc.title, r.rps, r.p50, r.p99, r.errors)
	}
	fmt.Println()
	// Each ratio is the median of the ratios within one round: the two
	// measurements of a pair ran seconds apart, under the same load from
	// whatever else the machine was doing.
	ratio := func(label, a, b string) {
		ra, rb := results[a], results[b]
		if len(ra) == 0 || len(ra) != len(rb) {
			return
		}
		var per []float64
		for i := range ra {
			if rb[i].rps > 0 {
				per = append(per, ra[i].rps/rb[i].rps)
			}
		}
		if len(per) == 0 {
			return
		}
		sort.Float64s(per)
		fmt.Printf("%s: %.2f (per round: %s)\n", label, per[len(per)/2], formatRatios(per))
	}
	ratio("forward-auth, cached API key / bare fasthttp handler", "verify-key", "bare")
	ratio("forward-auth, HS256 token / bare fasthttp handler", "verify-hs256", "bare")
	ratio("forward-auth, catalog RS256 token / bare fasthttp handler", "verify-rs256", "bare")
	ratio("proxy mode, API key / upstream direct", "proxy-key", "upstream")
	ratio("proxy mode, API key / nginx reverse proxy", "proxy-key", "nginx")
}

func formatRatios(r []float64) string {
	parts := make([]string, len(r))
	for i, v := range r {
		parts[i] = fmt.Sprintf("%.2f", v)
	}
	return strings.Join(parts, " ")
}
