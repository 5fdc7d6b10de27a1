package client

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/zectre/zectre-auth/handlers"
)

const (
	// exitInterrupted is the shell's status for a command ended by Ctrl-C.
	exitInterrupted = 130
	// firstPoll and maxPoll bound the status polling: quick at first,
	// when the browser login is most likely to finish, gentler later.
	firstPoll = time.Second
	maxPoll   = 5 * time.Second
	// pollGrowth is the factor between polls (1 s, 1.2 s, 1.44 s … 5 s).
	pollGrowth = 1.2
	// giveUpAfter is how long the server may fail to answer before login
	// stops waiting; a restart fits in it, a server gone for good does not.
	giveUpAfter = time.Minute
	// expiryGrace lets a late clock or a slow answer reach the server's own
	// "expired" before login decides so itself.
	expiryGrace = 30 * time.Second
	// maxSkew is the clock difference to the server worth correcting.
	maxSkew = 5 * time.Second
	// maxDeviceName is the server's limit, in code points.
	maxDeviceName = 100
)

// initiateAnswer is the answer of POST /api/v1/auth/cli/initiate.
type initiateAnswer struct {
	Code      string `json:"code"`
	AuthURL   string `json:"auth_url"`
	ExpiresAt string `json:"expires_at"`
}

// statusAnswer is the answer of GET /api/v1/auth/cli/status/{code}.
type statusAnswer struct {
	Status string   `json:"status"`
	APIKey *string  `json:"api_key"`
	User   *apiUser `json:"user"`
}

// loginRun is one run of `zectre-auth login`.
type loginRun struct {
	client    *apiClient
	base      string
	device    string
	noBrowser bool
	path      string // credentials file
	getenv    func(string) string
	stdout    io.Writer
	stderr    io.Writer
	firstPoll time.Duration
	maxPoll   time.Duration
}

// Login runs `zectre-auth login args…`: it starts a CLI login at the API,
// opens the login page in the user's browser (unless --no-browser or there
// is none), waits for the page to complete it and stores the delivered API
// key in the credentials file. version is the binary's, named in the
// User-Agent. It returns the exit status: 0 logged in, 1 no key stored, 2 a
// usage error, 130 interrupted.
func Login(version string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := fs.String("api", "", "API base `URL` (default $ZECTRE_API_URL, else "+defaultAPIURL+")")
	noBrowser := fs.Bool("no-browser", false, "only print the URL; never open a browser")
	device := fs.String("device", "", "device `name` shown on the login page and in the key's name (default: the host name)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	base, err := apiBase(*api, os.Getenv, "")
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth: login:", err)
		return 2
	}
	path, err := credentialsPath(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth: login:", err)
		return 1
	}
	name := *device
	if name == "" {
		name = hostName()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := &loginRun{
		client: newAPIClient(base, version), base: base, device: name, noBrowser: *noBrowser,
		path: path, getenv: os.Getenv, stdout: stdout, stderr: stderr,
		firstPoll: firstPoll, maxPoll: maxPoll,
	}
	return f.run(ctx)
}

// parseFlags parses a subcommand's flags; -h is success, a stray argument
// a usage error.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "zectre-auth: %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, false
	}
	return 0, true
}

// hostName is the default device name, cut to what the server accepts.
func hostName() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	for utf8.RuneCountInString(h) > maxDeviceName {
		_, size := utf8.DecodeLastRuneInString(h)
		h = h[:len(h)-size]
	}
	return h
}

func (f *loginRun) run(ctx context.Context) int {
	if w := plaintextWarning(f.base); w != "" {
		fmt.Fprintln(f.stderr, w)
	}
	var init initiateAnswer
	hdr, err := f.client.do(ctx, http.MethodPost, "/api/v1/auth/cli/initiate", "", map[string]string{"device_name": f.device}, &init)
	if err != nil {
		return f.fail(ctx, "could not start a login", err)
	}
	if init.Code == "" || !isWebURL(init.AuthURL) {
		fmt.Fprintf(f.stderr, "zectre-auth: login: %s answered without a usable code and auth_url; is it a zectre API?\n", f.base)
		return 1
	}
	start := time.Now()
	deadline := localDeadline(init.ExpiresAt, hdr.Get("Date"), start)
	f.announce(init, deadline.Sub(start))
	if !f.noBrowser {
		f.openBrowser(init.AuthURL)
	}
	fmt.Fprintln(f.stdout)

	st, code := f.poll(ctx, init.Code, start, deadline)
	if code >= 0 {
		return code
	}
	return f.save(st)
}

// announce prints what the user must see before the browser takes over: the
// URL, and the device name and short code to compare with the page.
func (f *loginRun) announce(init initiateAnswer, left time.Duration) {
	device := f.device
	if device == "" {
		device = "unnamed device"
	}
	fmt.Fprintf(f.stdout, "To log in, open this URL in a browser:\n\n    %s\n\n", init.AuthURL)
	fmt.Fprintf(f.stdout, "  device: %s\n  code:   %s\n", device, handlers.CLIShortCode(init.Code))
	fmt.Fprintln(f.stdout, "Continue in the browser only if the page shows this device and code.")
	if left > 0 {
		fmt.Fprintf(f.stdout, "The code expires in %s.\n", clockUp(left))
	}
}

// isWebURL accepts only absolute http(s) URLs: the auth_url goes to a
// browser launcher as an argument, where a file: URL or an option-looking
// string from a hostile server must never land.
func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// localDeadline turns the server's expires_at into local time, measured
// against the server's Date header when the clocks disagree by more than
// maxSkew, so that a skewed clock here still shows the right time left.
// (Below that, the Date header's one-second grain would only add noise.)
// Zero when the server said nothing usable.
func localDeadline(expiresAt, date string, now time.Time) time.Time {
	exp, err := time.Parse(time.RFC3339, expiresAt)
	if err != nil {
		return time.Time{}
	}
	if served, err := http.ParseTime(date); err == nil && (served.Sub(now) > maxSkew || now.Sub(served) > maxSkew) {
		return now.Add(exp.Sub(served))
	}
	return exp
}

func (f *loginRun) openBrowser(target string) {
	cmd, reason := browserCommand(target, goos, f.getenv, execLookPath)
	if cmd == nil {
		fmt.Fprintf(f.stdout, "Not opening a browser here (%s): open the URL on any device that has one.\n", reason)
		return
	}
	detach(cmd)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(f.stdout, "Could not open a browser (%v): open the URL yourself.\n", err)
		return
	}
	go cmd.Wait() // reap it; whether it shows the page is the user's to see
	fmt.Fprintln(f.stdout, "Opened the URL in your browser.")
}

// poll asks for the status until the login completes, expires or fails. It
// returns the completed status and -1, or the exit code to end with.
func (f *loginRun) poll(ctx context.Context, code string, start, deadline time.Time) (statusAnswer, int) {
	ind := newIndicator(f.stderr, isTerminal(f.stderr, f.getenv), unicodeLocale(f.getenv), start, deadline)
	go ind.run()
	defer ind.stop()
	interval, wait := f.firstPoll, f.firstPoll
	var failingSince time.Time
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			ind.stop()
			return statusAnswer{}, f.interrupted()
		case <-timer.C:
		}
		interval = min(time.Duration(float64(interval)*pollGrowth), f.maxPoll)
		wait = interval
		var st statusAnswer
		_, err := f.client.do(ctx, http.MethodGet, "/api/v1/auth/cli/status/"+url.PathEscape(code), "", nil, &st)
		if err == nil {
			failingSince = time.Time{}
			ind.setNote("")
			if st.Status == "pending" && (deadline.IsZero() || time.Now().Before(deadline.Add(expiryGrace))) {
				continue
			}
			ind.stop()
			return st, f.settled(st)
		}
		if ctx.Err() != nil {
			ind.stop()
			return statusAnswer{}, f.interrupted()
		}
		var ae *apiError
		var ue *unreachableError
		isAPI, isNet := errors.As(err, &ae), errors.As(err, &ue)
		switch {
		case isAPI && ae.Status == http.StatusTooManyRequests:
			wait = max(ae.RetryAfter, interval)
			ind.setNote("rate limited; next check in " + clockUp(wait))
			continue
		case !isNet && !(isAPI && ae.Status >= 500):
			ind.stop()
			return statusAnswer{}, f.pollFailed(err)
		}
		// No answer, or a server error: the server may be restarting.
		now := time.Now()
		if failingSince.IsZero() {
			failingSince = now
		}
		if now.Sub(failingSince) > giveUpAfter {
			ind.stop()
			fmt.Fprintf(f.stderr, "zectre-auth: login: gave up after %s without an answer: %v\n", clock(now.Sub(failingSince)), err)
			return statusAnswer{}, 1
		}
		if isNet {
			ind.setNote("server unreachable; retrying")
		} else {
			ind.setNote(fmt.Sprintf("server error %d; retrying", ae.Status))
		}
	}
}

// settled turns a final status answer into -1 (completed, key delivered)
// or an exit code.
func (f *loginRun) settled(st statusAnswer) int {
	switch st.Status {
	case "completed":
		if st.APIKey == nil || *st.APIKey == "" || st.User == nil {
			fmt.Fprintln(f.stderr, "zectre-auth: login: the server said completed but sent no key")
			return 1
		}
		return -1
	case "expired", "pending": // pending past the deadline: the server's clock is off
		return f.expired()
	default:
		fmt.Fprintf(f.stderr, "zectre-auth: login: unknown login status %q\n", st.Status)
		return 1
	}
}

// pollFailed explains a final answer to a status poll.
func (f *loginRun) pollFailed(err error) int {
	var ae *apiError
	if !errors.As(err, &ae) {
		fmt.Fprintln(f.stderr, "zectre-auth: login:", err)
		return 1
	}
	switch {
	case ae.Status == http.StatusGone || ae.Code == "CODE_EXPIRED":
		return f.expired()
	case ae.Status == http.StatusConflict || ae.Code == "SESSION_USED":
		fmt.Fprintf(f.stderr, "zectre-auth: login: this login was already completed and its key was delivered to another poll of the same code.\n"+
			"If that was not you, delete the API key named %q. Run zectre-auth login to start again.\n", "CLI: "+f.device)
	case ae.Status == http.StatusNotFound:
		fmt.Fprintln(f.stderr, "zectre-auth: login: the server does not know this login code (it expired long ago, or the server's database changed); run zectre-auth login again")
	default:
		fmt.Fprintln(f.stderr, "zectre-auth: login: the server refused the status check:", err)
	}
	return 1
}

func (f *loginRun) expired() int {
	fmt.Fprintln(f.stderr, "zectre-auth: login: the login code expired before the login was completed in the browser; run zectre-auth login again")
	return 1
}

func (f *loginRun) interrupted() int {
	fmt.Fprintln(f.stderr, "zectre-auth: login: interrupted; nothing was stored")
	return exitInterrupted
}

// fail explains an error of the initiate call.
func (f *loginRun) fail(ctx context.Context, what string, err error) int {
	var ae *apiError
	var ue *unreachableError
	switch {
	case ctx.Err() != nil:
		return f.interrupted()
	case errors.As(err, &ue):
		fmt.Fprintf(f.stderr, "zectre-auth: login: %v\nIs the service running there? --api or ZECTRE_API_URL names another.\n", err)
	case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
		fmt.Fprintf(f.stderr, "zectre-auth: login: too many logins started from this address; try again in %s\n", clockUp(max(ae.RetryAfter, time.Second)))
	default:
		fmt.Fprintf(f.stderr, "zectre-auth: login: %s: %v\n", what, err)
	}
	return 1
}

// save stores the delivered key. Signals no longer stop anything here: the
// key exists only in this process now, and dropping it would leave a live
// key nobody holds.
func (f *loginRun) save(st statusAnswer) int {
	key, u := *st.APIKey, *st.User
	if err := saveCredentials(f.path, newCredentials(f.base, key, u, time.Now())); err != nil {
		fmt.Fprintf(f.stderr, "zectre-auth: login: could not store the credentials: %v\n", err)
		ctx, cancel := context.WithTimeout(context.Background(), 2*clientTimeout)
		defer cancel()
		if rerr := revokeKey(ctx, f.client, key); rerr != nil {
			fmt.Fprintf(f.stderr, "The new key (prefix %s) could not be revoked either (%v); delete it from your API keys.\n", keyPrefix(key), rerr)
		} else {
			fmt.Fprintln(f.stderr, "The new key was revoked again, so that no key nobody holds stays valid.")
		}
		return 1
	}
	fmt.Fprintf(f.stdout, "Logged in to %s as %s.\n", f.base, userLabel(u.Email, u.Name))
	fmt.Fprintf(f.stdout, "The API key is stored in %s.\n", f.path)
	if f.getenv("ZECTRE_API_KEY") != "" {
		fmt.Fprintln(f.stdout, "Note: ZECTRE_API_KEY is set in this environment and takes precedence over the stored key.")
	}
	return 0
}

// userLabel is "email (name)", or the email alone.
func userLabel(email string, name *string) string {
	if name != nil && *name != "" {
		return fmt.Sprintf("%s (%s)", email, *name)
	}
	return email
}

// keyPrefix is the part of a key the API lists as its prefix; it is not
// secret and is what a user finds the key by.
func keyPrefix(key string) string {
	if len(key) < 8 {
		return key
	}
	return key[:8]
}
