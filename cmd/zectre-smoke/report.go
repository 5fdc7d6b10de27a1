package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"
)

// report prints one line per check and counts the outcomes. Every line goes
// through redact first: a failing check quotes the answer it got, and an
// answer may hold a token or a key.
type report struct {
	w       io.Writer
	passed  int
	failed  int
	secrets []secret
}

// secret is a value the run must never print, with what may be shown of it.
type secret struct {
	value, shown string
}

// Prefix lengths shown in place of a secret: an API key's prefix is the one
// the API itself lists, a token's first characters are its (public) header.
const (
	keyShown   = 8
	tokenShown = 8
	codeShown  = 8
)

// keep registers value as a secret shown only by its first n characters
// (none for n = 0, as for a password).
func (r *report) keep(value string, n int) {
	if value == "" {
		return
	}
	shown := "[redacted]"
	if n > 0 && len(value) > n {
		shown = value[:n] + "…"
	}
	r.secrets = append(r.secrets, secret{value, shown})
}

// check records one check: it passed when there are no problems.
func (r *report) check(name string, problems []string) {
	if len(problems) == 0 {
		r.passed++
		r.line("ok   " + name)
		return
	}
	r.failed++
	r.line("FAIL " + name + ": " + strings.Join(problems, "; "))
}

// summary prints the closing line.
func (r *report) summary() {
	r.line(fmt.Sprintf("%d passed, %d failed", r.passed, r.failed))
}

func (r *report) line(s string) {
	fmt.Fprintln(r.w, r.redact(s))
}

// Shapes of secrets the run did not register (a key or token in an answer
// that should not have held one): they are cut to their prefix as well.
var (
	keyPattern   = regexp.MustCompile(`zec_[0-9A-Za-z]{8,}`)
	tokenPattern = regexp.MustCompile(`eyJ[0-9A-Za-z_-]*\.[0-9A-Za-z_-]+\.[0-9A-Za-z_-]*`)
)

func (r *report) redact(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec.value, sec.shown)
	}
	s = keyPattern.ReplaceAllStringFunc(s, func(k string) string { return k[:keyShown] + "…" })
	return tokenPattern.ReplaceAllStringFunc(s, func(t string) string { return t[:min(len(t), tokenShown)] + "…" })
}
