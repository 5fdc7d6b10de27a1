package client

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

const (
	// frameInterval is how often the spinner moves on a terminal.
	frameInterval = 100 * time.Millisecond
	// plainInterval is how often a log (not a terminal) gets a line: often
	// enough to show life, rarely enough not to flood CI output.
	plainInterval = 30 * time.Second
)

var (
	unicodeFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
	asciiFrames   = []string{"|", "/", "-", `\`}
)

// indicator shows that login is still waiting for the browser. On a
// terminal it rewrites one line in place; elsewhere (pipes, CI logs) it
// writes a plain line now and then, because carriage returns and escape
// codes only garble a log.
type indicator struct {
	w        io.Writer
	tty      bool
	frames   []string
	start    time.Time
	deadline time.Time // zero: unknown

	mu       sync.Mutex
	frame    int
	note     string
	lastLine time.Time
	drawn    bool

	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
}

func newIndicator(w io.Writer, tty, unicode bool, start, deadline time.Time) *indicator {
	frames := asciiFrames
	if unicode {
		frames = unicodeFrames
	}
	return &indicator{w: w, tty: tty, frames: frames, start: start, deadline: deadline,
		quit: make(chan struct{}), done: make(chan struct{})}
}

// run draws until stop; it owns the writer in between.
func (in *indicator) run() {
	defer close(in.done)
	in.draw(time.Now())
	every := frameInterval
	if !in.tty {
		every = time.Second // checks; lines come every plainInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-in.quit:
			in.clear()
			return
		case now := <-t.C:
			in.draw(now)
		}
	}
}

// stop ends run and clears the spinner line, so that what is printed next
// starts on a clean line.
func (in *indicator) stop() {
	in.stopOnce.Do(func() { close(in.quit) })
	<-in.done
}

// setNote adds a passing condition (rate limited, server unreachable) to
// the line; "" removes it. A log gets the change at once.
func (in *indicator) setNote(note string) {
	in.mu.Lock()
	changed := note != in.note
	in.note = note
	in.mu.Unlock()
	if changed && !in.tty && note != "" {
		in.draw(time.Time{})
	}
}

// draw renders one frame at now; a zero now forces a plain line.
func (in *indicator) draw(now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	force := now.IsZero()
	if force {
		now = time.Now()
	}
	if in.tty {
		fmt.Fprintf(in.w, "\r\x1b[K%s %s", in.frames[in.frame%len(in.frames)], in.status(now))
		in.frame++
		in.drawn = true
		return
	}
	if force || in.lastLine.IsZero() || now.Sub(in.lastLine) >= plainInterval {
		fmt.Fprintln(in.w, in.status(now))
		in.lastLine = now
	}
}

// status is the text after the spinner.
func (in *indicator) status(now time.Time) string {
	var b strings.Builder
	b.WriteString("waiting for the login in the browser: ")
	b.WriteString(clock(now.Sub(in.start)))
	b.WriteString(" elapsed")
	if !in.deadline.IsZero() {
		b.WriteString(", ")
		b.WriteString(clockUp(in.deadline.Sub(now)))
		b.WriteString(" left")
	}
	if in.note != "" {
		b.WriteString(" (")
		b.WriteString(in.note)
		b.WriteString(")")
	}
	return b.String()
}

func (in *indicator) clear() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.tty && in.drawn {
		fmt.Fprint(in.w, "\r\x1b[K")
	}
}

// clock formats d as m:ss, never negative, with whole seconds cut off
// (elapsed time), as a stopwatch shows it.
func clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int(d / time.Second)
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// clockUp is clock rounded up (time left), so that a fresh code shows
// 10:00 and 0:00 means it is over.
func clockUp(d time.Duration) string {
	return clock(d + time.Second - time.Nanosecond)
}

// isTerminal reports whether w is an interactive terminal. /dev/null is a
// character device too, and TERM=dumb asks for no cursor tricks.
func isTerminal(w io.Writer, getenv func(string) string) bool {
	f, ok := w.(*os.File)
	if !ok || getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}

// unicodeLocale reports whether the locale promises UTF-8, so that the
// braille spinner renders instead of showing as garbage.
func unicodeLocale(getenv func(string) string) bool {
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := getenv(k); v != "" {
			v = strings.ToLower(v)
			return strings.Contains(v, "utf-8") || strings.Contains(v, "utf8")
		}
	}
	return false
}
