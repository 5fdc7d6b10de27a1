package client

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestIndicatorTerminal(t *testing.T) {
	var b bytes.Buffer
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	in := newIndicator(&b, true, false, start, start.Add(10*time.Minute))
	in.draw(start.Add(65 * time.Second))
	in.setNote("rate limited; next check in 0:05")
	in.draw(start.Add(66 * time.Second))
	in.drawn = true
	in.clear()
	want := "\r\x1b[K| waiting for the login in the browser: 1:05 elapsed, 8:55 left" +
		"\r\x1b[K/ waiting for the login in the browser: 1:06 elapsed, 8:54 left (rate limited; next check in 0:05)" +
		"\r\x1b[K"
	if b.String() != want {
		t.Fatalf("got  %q\nwant %q", b.String(), want)
	}
}

func TestIndicatorPlain(t *testing.T) {
	var b bytes.Buffer
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	in := newIndicator(&b, false, true, start, time.Time{})
	in.draw(start)
	in.draw(start.Add(time.Second)) // too soon for another line
	in.draw(start.Add(plainInterval))
	in.setNote("server unreachable; retrying") // at once, whatever the interval
	in.clear()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 || strings.Contains(b.String(), "\r") || strings.Contains(b.String(), "\x1b") {
		t.Fatalf("plain output %q", b.String())
	}
	if lines[1] != "waiting for the login in the browser: 0:30 elapsed" || !strings.HasSuffix(lines[2], "(server unreachable; retrying)") {
		t.Fatalf("lines %q", lines)
	}
}

// TestIndicatorRunStop: stop returns only after the goroutine is gone and
// the line is clean, whatever the order of calls.
func TestIndicatorRunStop(t *testing.T) {
	var b lockedBuffer
	in := newIndicator(&b, true, true, time.Now(), time.Now().Add(time.Minute))
	go in.run()
	time.Sleep(3 * frameInterval)
	in.stop()
	in.stop()
	out := b.String()
	if !strings.HasSuffix(out, "\r\x1b[K") || !strings.Contains(out, "⠙") {
		t.Fatalf("output %q", out)
	}
}

func TestClock(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0:00", -time.Second: "0:00", 59999 * time.Millisecond: "0:59", 10 * time.Minute: "10:00", 61 * time.Minute: "61:00"} {
		if got := clock(d); got != want {
			t.Errorf("clock(%v) = %q, want %q", d, got, want)
		}
	}
	if clockUp(599*time.Second+time.Millisecond) != "10:00" || clockUp(0) != "0:00" || clockUp(-time.Second) != "0:00" {
		t.Error("clockUp")
	}
}

func TestIsTerminal(t *testing.T) {
	none := func(string) string { return "" }
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(null, none) || isTerminal(w, none) || isTerminal(&bytes.Buffer{}, none) {
		t.Fatal("a non-terminal counts as a terminal")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !isTerminal(tty, none) {
			t.Error("/dev/tty is not a terminal")
		}
		if isTerminal(tty, func(k string) string { return map[string]string{"TERM": "dumb"}[k] }) {
			t.Error("TERM=dumb still draws")
		}
	}
	if !unicodeLocale(func(k string) string { return map[string]string{"LANG": "en_US.UTF-8"}[k] }) ||
		unicodeLocale(func(k string) string { return map[string]string{"LC_ALL": "C", "LANG": "en_US.UTF-8"}[k] }) {
		t.Error("unicodeLocale")
	}
}

// lockedBuffer collects the indicator's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
