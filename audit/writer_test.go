package audit

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/authn"
)

// syncBuffer is a writer tests can read while the flusher writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(s.b.String(), "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			panic("not JSON: " + l)
		}
		out = append(out, m)
	}
	return out
}

func TestAuditLineShape(t *testing.T) {
	var w syncBuffer
	a := New(&w, nil)
	key, err := authn.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	a.Attempt(Attempt{
		Source: "proxy", Path: "/apps/1", Client: netip.MustParseAddr("192.0.2.7"), RequestID: "req-1",
		Credentials: authn.Credentials{APIKey: key.Raw},
		User:        authn.AuthUser{ID: "u1", APIKeyID: "k1", Method: authn.MethodAPIKey},
	})
	a.Attempt(Attempt{Credentials: authn.Credentials{Authorization: "Bearer eyJhbGciOi"}, Err: authn.ErrInvalidToken})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	lines := w.lines()
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), w.b.String())
	}
	want := map[string]any{
		"level": "INFO", "msg": "auth", "outcome": "ok", "method": "api_key", "source": "proxy",
		"user_id": "u1", "key_id": "k1", "key_prefix": key.Prefix, "client": "192.0.2.7",
		"path": "/apps/1", "request_id": "req-1",
	}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("%s = %v, want %v", k, lines[0][k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, lines[0]["time"].(string)); err != nil {
		t.Errorf("time: %v", err)
	}
	if _, ok := lines[1]["user_id"]; ok {
		t.Errorf("empty fields are written: %v", lines[1])
	}
	if strings.Contains(w.b.String(), key.Raw) {
		t.Fatal("the raw key reached the audit log")
	}
}

// TestAuditEscapesLikeSlog: the lines must parse the same way the service's
// slog JSON lines do, whatever a path holds.
func TestAuditEscapesLikeSlog(t *testing.T) {
	for _, s := range []string{
		`plain`, `quo"te`, `back\slash`, "tab\tnew\nline\r", "nul\x00bell\x07", "bad\xffutf8",
		"sep\u2028\u2029", "ünïcödé", "<html>&amp;",
	} {
		var sb bytes.Buffer
		slog.New(slog.NewJSONHandler(&sb, nil)).Info("m", "k", s)
		line := sb.String()
		i := strings.Index(line, `"k":`) + len(`"k":`)
		want := strings.TrimSuffix(line[i:], "}\n")
		if got := string(appendJSONString(nil, s)); got != want {
			t.Errorf("%q: got %s, slog writes %s", s, got, want)
		}
	}
}

func TestAuditFlushesBySizeAndInterval(t *testing.T) {
	var w syncBuffer
	a := newWriter(&w, nil, time.Hour, 200, 1<<20) // only size can trigger
	defer a.Close()
	for i := 0; i < 3; i++ {
		a.record(Event{Outcome: "ok", Path: strings.Repeat("p", 100)})
	}
	waitFor(t, func() bool { return len(w.lines()) >= 2 })

	var w2 syncBuffer
	b := newWriter(&w2, nil, 10*time.Millisecond, 1<<20, 1<<20) // only the ticker can
	defer b.Close()
	b.record(Event{Outcome: "ok"})
	waitFor(t, func() bool { return len(w2.lines()) == 1 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached within 5s")
}

// stuckWriter blocks every write until released.
type stuckWriter struct {
	release chan struct{}
	syncBuffer
}

func (s *stuckWriter) Write(p []byte) (int, error) {
	<-s.release
	return s.syncBuffer.Write(p)
}

// TestAuditDropsWhenWriterIsStuck: requests must never wait for the log.
func TestAuditDropsWhenWriterIsStuck(t *testing.T) {
	w := &stuckWriter{release: make(chan struct{})}
	a := newWriter(w, nil, time.Millisecond, 100, 2000)
	start := time.Now()
	for i := 0; i < 10000; i++ {
		a.record(Event{Outcome: "ok", UserID: "user"})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("recording took %v with a stuck writer", d)
	}
	dropped := a.Dropped()
	if dropped == 0 {
		t.Fatal("nothing was dropped")
	}
	close(w.release)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	var written, warned uint64
	for _, l := range w.lines() {
		if l["msg"] == "audit lines dropped" && l["level"] == "WARN" {
			warned += uint64(l["dropped"].(float64))
		} else {
			written++
		}
	}
	if warned != dropped {
		t.Fatalf("warning lines report %d dropped, Dropped() %d", warned, dropped)
	}
	if written+dropped != 10000 {
		t.Fatalf("%d written + %d dropped, want 10000", written, dropped)
	}
}

func TestAuditConcurrentAndClosed(t *testing.T) {
	var w syncBuffer
	a := newWriter(&w, nil, time.Millisecond, 512, 1<<20)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 500; i++ {
				a.record(Event{Outcome: "ok", Path: "/x"})
			}
		})
	}
	wg.Wait()
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a.record(Event{Outcome: "late"})
	if n := len(w.lines()); n != 4000 {
		t.Fatalf("%d lines, want 4000", n)
	}
	if a.Dropped() != 1 {
		t.Fatalf("dropped %d, want the one recorded after Close", a.Dropped())
	}
	var nilAudit *Writer
	nilAudit.Attempt(Attempt{}) // a nil writer records nothing
}

func BenchmarkAuditRecord(b *testing.B) {
	a := New(discard{}, nil)
	defer a.Close()
	e := Event{Outcome: "ok", Method: "api_key", Source: "verify", UserID: "4f1c2b0e-1111-2222-3333-444455556666",
		KeyID: "9a8b7c6d-1111-2222-3333-444455556666", KeyPrefix: "zec_AbCd", Client: netip.MustParseAddr("10.1.2.3"),
		Path: "/api/v1/apps/1234", RequestID: "0123456789abcdef0123456789abcdef"}
	b.ReportAllocs()
	for b.Loop() {
		a.record(e)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestAuditStamp: the cached time format is exactly time.RFC3339Nano, as
// slog writes it, across seconds, zones and trailing zeros.
func TestAuditStamp(t *testing.T) {
	var st stamp
	base := time.Date(2026, 11, 26, 17, 15, 39, 0, time.UTC)
	east := time.FixedZone("east", 5*3600+1800)
	for _, tm := range []time.Time{
		base, base.Add(123456789), base.Add(120000000), base.Add(1), base.Add(time.Second + 5),
		base.Add(999999999), base.In(east), base.Add(42).In(east), base.Add(2 * time.Second),
	} {
		if got, want := string(st.append(nil, tm)), tm.Format(time.RFC3339Nano); got != want {
			t.Errorf("stamp %q, want %q", got, want)
		}
	}
}
