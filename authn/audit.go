package authn

import (
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Defaults of the audit writer.
const (
	// AuditFlushInterval is how often buffered audit lines are written.
	AuditFlushInterval = 100 * time.Millisecond
	// AuditFlushSize: a buffer this full (bytes) is written at once.
	AuditFlushSize = 64 << 10
	// AuditMaxBuffer bounds the bytes waiting while the writer is busy;
	// lines beyond it are dropped and counted.
	AuditMaxBuffer = 4 << 20
)

// AuditEvent is one authentication attempt. It never holds a credential:
// only the key's public prefix, ids, and where the attempt came from.
type AuditEvent struct {
	Outcome   string     // "ok", "denied", "limited", "disabled"
	Method    string     // jwt, catalog_jwt, api_key, password, ...
	Source    string     // what was asked: "api", "proxy", "verify"
	Code      string     // the error code answered, on denial
	UserID    string     // the caller, when known
	KeyID     string     // the API key's id, when it resolved
	KeyPrefix string     // the presented key's public prefix (first 8 characters)
	Client    netip.Addr // the client address the attempt is attributed to
	Path      string     // the normalised path the decision was about
	RequestID string     // X-Request-Id, to join with other logs
	Reason    string     // why it was denied (an error text, never a credential)
}

// Audit writes one JSON line per authentication attempt, in the shape of
// the service's slog JSON output ({"time":…,"level":"INFO","msg":"auth",…}),
// so that the lines interleave with the rest of the log and parse alike.
//
// At proxy rates a synchronous slog line per request would dominate the hot
// path (a lock on the shared writer and a write syscall each), so Record
// only appends to an in-memory buffer; a background flusher writes the
// buffer every AuditFlushInterval, or at once when AuditFlushSize bytes are
// waiting. The buffer is bounded: while the writer is stuck (a blocked pipe,
// a full disk), lines beyond AuditMaxBuffer are dropped and counted rather
// than blocking requests, and a warning line with the count is written once
// the writer moves again. Call Close on shutdown to write what is left.
type Audit struct {
	w         io.Writer
	interval  time.Duration
	flushSize int
	maxBuffer int

	mu      sync.Mutex
	pending []byte
	closed  bool
	stamp   stamp // guarded by mu

	writeMu sync.Mutex // serialises writers of w: the flusher and Flush
	spare   []byte
	warn    []byte

	observer    atomic.Pointer[observed] // set by Observe; nil: nobody listens
	dropped     atomic.Uint64            // lines dropped since the last warning line
	droppedAll  atomic.Uint64
	kick        chan struct{}
	stop        chan struct{}
	done        chan struct{}
	closeOnce   sync.Once
	closeResult error
}

// NewAudit starts an audit writer on w with the default interval and sizes.
func NewAudit(w io.Writer) *Audit {
	return newAudit(w, AuditFlushInterval, AuditFlushSize, AuditMaxBuffer)
}

func newAudit(w io.Writer, interval time.Duration, flushSize, maxBuffer int) *Audit {
	a := &Audit{
		w: w, interval: interval, flushSize: flushSize, maxBuffer: maxBuffer,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go a.run()
	return a
}

// Record appends the line of e. It never blocks on the writer, and it copies
// every string, so e may refer to request memory that is reused afterwards.
// A nil *Audit records nothing.
func (a *Audit) Record(e AuditEvent) {
	if a == nil {
		return
	}
	if o := a.observer.Load(); o != nil {
		o.Attempt(e.Method, e.Outcome)
	}
	now := time.Now()
	a.mu.Lock()
	if a.closed || len(a.pending) >= a.maxBuffer {
		a.mu.Unlock()
		a.dropped.Add(1)
		a.droppedAll.Add(1)
		return
	}
	a.pending = appendEvent(a.pending, &a.stamp, now, &e)
	full := len(a.pending) >= a.flushSize
	a.mu.Unlock()
	if full {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

// AuditObserver learns of every authentication attempt Record is given,
// for metrics: also of those whose line is dropped. Attempt runs on the
// request path: it must be cheap, must not block, and must not keep the
// strings, which may alias request memory.
type AuditObserver interface {
	Attempt(method, outcome string)
}

// observed boxes an AuditObserver for the atomic pointer.
type observed struct{ AuditObserver }

// Observe makes o learn of every attempt recorded from now on; nil stops
// that. It is safe to call while requests are served.
func (a *Audit) Observe(o AuditObserver) {
	if a == nil {
		return
	}
	if o == nil {
		a.observer.Store(nil)
		return
	}
	a.observer.Store(&observed{o})
}

// Dropped is how many lines were dropped because the writer was stuck or
// the writer closed.
func (a *Audit) Dropped() uint64 {
	if a == nil {
		return 0
	}
	return a.droppedAll.Load()
}

// Flush writes every line recorded before the call. It waits for the writer.
func (a *Audit) Flush() error {
	if a == nil {
		return nil
	}
	return a.flush()
}

// Close stops the flusher and writes what is left. Lines recorded after
// Close are dropped.
func (a *Audit) Close() error {
	if a == nil {
		return nil
	}
	a.closeOnce.Do(func() {
		close(a.stop)
		<-a.done
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		a.closeResult = a.flush()
	})
	return a.closeResult
}

func (a *Audit) run() {
	defer close(a.done)
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
		case <-a.kick:
		}
		_ = a.flush() // a failing writer loses lines; nothing better to do with them
	}
}

// flush swaps the pending buffer out under the short lock and writes it
// outside, so Record never waits for the writer.
func (a *Audit) flush() error {
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	a.mu.Lock()
	out := a.pending
	a.pending = a.spare[:0]
	a.mu.Unlock()
	var err error
	if n := a.dropped.Swap(0); n > 0 {
		a.warn = appendDropWarning(a.warn[:0], time.Now(), n)
		_, err = a.w.Write(a.warn)
	}
	if len(out) > 0 {
		if _, werr := a.w.Write(out); err == nil {
			err = werr
		}
	}
	if cap(out) > 2*a.maxBuffer {
		out = nil // do not keep an outsized buffer alive
	}
	a.spare = out[:0]
	return err
}

// appendEvent appends e as one JSON line, fields in a fixed order, empty
// ones left out.
func appendEvent(b []byte, st *stamp, now time.Time, e *AuditEvent) []byte {
	b = append(b, `{"time":"`...)
	b = st.append(b, now)
	b = append(b, `","level":"INFO","msg":"auth"`...)
	b = appendField(b, "outcome", e.Outcome)
	b = appendField(b, "method", e.Method)
	b = appendField(b, "source", e.Source)
	b = appendField(b, "code", e.Code)
	b = appendField(b, "user_id", e.UserID)
	b = appendField(b, "key_id", e.KeyID)
	b = appendField(b, "key_prefix", e.KeyPrefix)
	if e.Client.IsValid() {
		b = append(b, `,"client":"`...)
		b = e.Client.AppendTo(b)
		b = append(b, '"')
	}
	b = appendField(b, "path", e.Path)
	b = appendField(b, "request_id", e.RequestID)
	b = appendField(b, "reason", e.Reason)
	return append(b, "}\n"...)
}

func appendDropWarning(b []byte, now time.Time, n uint64) []byte {
	b = appendHead(b, now, "WARN", "audit lines dropped")
	b = append(b, `,"dropped":`...)
	b = strconv.AppendUint(b, n, 10)
	return append(b, "}\n"...)
}

// stamp formats times as time.RFC3339Nano (slog's JSON time) with the
// date, clock and zone formatted once per second: formatting them is most
// of the cost of an audit line.
type stamp struct {
	sec  int64
	off  int
	head []byte // "2006-01-02T15:04:05"
	zone []byte // "Z" or "-07:00"
}

func (s *stamp) append(b []byte, now time.Time) []byte {
	_, off := now.Zone()
	if sec := now.Unix(); sec != s.sec || off != s.off || s.head == nil {
		s.sec, s.off = sec, off
		s.head = now.AppendFormat(s.head[:0], "2006-01-02T15:04:05")
		s.zone = now.AppendFormat(s.zone[:0], "Z07:00")
	}
	b = append(b, s.head...)
	if ns := now.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, s.zone...)
}

func appendHead(b []byte, now time.Time, level, msg string) []byte {
	b = append(b, `{"time":"`...)
	b = now.AppendFormat(b, time.RFC3339Nano) // as slog's JSONHandler writes it
	b = append(b, `","level":"`...)
	b = append(b, level...)
	b = append(b, `","msg":`...)
	return appendJSONString(b, msg)
}

func appendField(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

// appendJSONString appends s as a JSON string the way slog does: control
// characters escaped, invalid UTF-8 replaced by U+FFFD, and U+2028/U+2029
// escaped so that the line stays one line for every JSON reader.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case '\u2028':
				b = append(b, `\u2028`...)
			case '\u2029':
				b = append(b, `\u2029`...)
			default:
				b = append(b, `\ufffd`...)
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AuditEventFor starts the audit event of an attempt with credentials c:
// the kind of credential presented ("api_key", or "bearer" for a token not
// yet known to be an own or a catalog token) and the key's public prefix.
// The resolved caller's Method replaces the kind on success.
func AuditEventFor(c Credentials) AuditEvent {
	e := AuditEvent{KeyPrefix: KeyPrefixOf(c)}
	switch tok := c.bearer(); {
	case c.APIKey != "" || strings.HasPrefix(tok, KeyPrefix):
		e.Method = string(MethodAPIKey)
	case tok != "":
		e.Method = "bearer"
	}
	return e
}

// KeyPrefixOf is the public prefix of the API key c presents (in X-API-Key,
// or as a bearer token with the key prefix), for audit lines; "" when there
// is none. Only the 8 characters shown in key listings are returned, and
// only when they look like a key's, so a mistyped secret is not logged.
func KeyPrefixOf(c Credentials) string {
	k := c.APIKey
	if k == "" {
		k = c.bearer()
	}
	if len(k) < apiKeyPrefixLen || k[:len(KeyPrefix)] != KeyPrefix {
		return ""
	}
	for i := len(KeyPrefix); i < apiKeyPrefixLen; i++ {
		if !isBase62(k[i]) {
			return ""
		}
	}
	return k[:apiKeyPrefixLen]
}
