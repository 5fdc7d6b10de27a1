// Command zectre-smoke runs the documented examples of the Authentication
// API (the README's quick start and docs/auth-api.md) against a running
// zectre-auth and checks every answer's status and shape:
//
//	go run ./cmd/zectre-smoke -base-url http://localhost:47080
//	make smoke BASE_URL=http://localhost:47080
//
// It prints one line per check, "ok" or "FAIL" with what differed, then
// "N passed, M failed", and exits 0 only when every check passed (1 when one
// failed, 2 on a usage error). Each run signs up a fresh account with a
// random email and password, so it can run again against the same instance;
// it deletes the API keys it created and leaves the account. Passwords,
// tokens, keys and CLI codes are never printed, only their prefixes.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"
)

// DefaultBaseURL is where `make run` serves.
const DefaultBaseURL = "http://localhost:47080"

func main() {
	base := flag.String("base-url", DefaultBaseURL, "base URL of the running zectre-auth")
	timeout := flag.Duration("timeout", 30*time.Second, "timeout of each request")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "zectre-smoke: unexpected argument %q (the base URL goes in -base-url)\n", flag.Arg(0))
		os.Exit(2)
	}
	if err := checkBaseURL(*base); err != nil {
		fmt.Fprintln(os.Stderr, "zectre-smoke:", err)
		os.Exit(2)
	}
	os.Exit(run(*base, *timeout, &report{w: os.Stdout}))
}

func checkBaseURL(base string) error {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-base-url %q is not an http:// or https:// URL with a host", base)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("-base-url %q has a query or fragment", base)
	}
	return nil
}

// run runs every check against base, writes each line to rep and returns
// the exit status: 0 when every check passed.
func run(base string, timeout time.Duration, rep *report) int {
	defer rep.summary()
	s, err := newSmoke(newClient(base, timeout), rep)
	if err != nil {
		rep.check("prepare the run", []string{err.Error()})
		return 1
	}
	// Nothing answering is one failure, not fifty.
	if r := s.c.do("GET", "/healthz", ""); r.err != nil {
		rep.check("reach "+base, []string{r.err.Error()})
		return 1
	}
	s.all()
	if rep.failed > 0 {
		return 1
	}
	return 0
}
