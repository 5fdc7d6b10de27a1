package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// scenario is one URL driven by wrk with fixed request headers.
type scenario struct {
	name, title string
	url         string
	headers     []string // "Name: value"
	profiled    bool     // served by zectre-auth: -profile records it
	pid         int      // the serving process, whose CPU time is measured
}

// result is what wrk measured.
type result struct {
	rps      float64
	p50, p99 time.Duration
	errors   int // non-2xx/3xx responses and socket errors
	// cpuPerReq is the CPU time (user + system) the serving process used
	// per request during the run: what a request costs the server,
	// whatever else shares the machine.
	cpuPerReq time.Duration
}

var (
	rpsLine    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	pctLine    = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.0+)?%\s+([0-9.]+)(us|ms|s)\s*$`)
	non2xxLine = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	sockLine   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func runWrk(o options, sc scenario) (result, error) {
	args := []string{
		"-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.connections),
		"-d", o.duration.String(), "--latency",
	}
	for _, h := range sc.headers {
		args = append(args, "-H", h)
	}
	args = append(args, sc.url)
	var out bytes.Buffer
	cmd := exec.Command("wrk", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	before := cpuTime(sc.pid)
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, out.String())
	}
	used := cpuTime(sc.pid) - before
	r, err := parseWrk(out.String())
	if err == nil && r.rps > 0 {
		r.cpuPerReq = time.Duration(float64(used) / (r.rps * o.duration.Seconds()))
	}
	return r, err
}

func parseWrk(s string) (result, error) {
	var r result
	m := rpsLine.FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", s)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, p := range pctLine.FindAllStringSubmatch(s, -1) {
		d := parseLatency(p[2], p[3])
		if p[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if m := non2xxLine.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		r.errors += n
	}
	if m := sockLine.FindStringSubmatch(s); m != nil {
		for _, f := range m[1:] {
			n, _ := strconv.Atoi(f)
			r.errors += n
		}
	}
	return r, nil
}

func parseLatency(num, unit string) time.Duration {
	v, _ := strconv.ParseFloat(num, 64)
	switch strings.TrimSpace(unit) {
	case "us":
		return time.Duration(v * float64(time.Microsecond)).Round(time.Microsecond)
	case "ms":
		return time.Duration(v * float64(time.Millisecond)).Round(time.Microsecond)
	default:
		return time.Duration(v * float64(time.Second)).Round(time.Microsecond)
	}
}
