package proxy

import (
	"net"
	"time"
)

// upstreamConn is a connection to an upstream. It gives every read and write
// its own deadline, so a stalled peer is noticed within timeout while a slow
// but moving body streams to the end; and it watches the status line of each
// response, because the HTTP client consumes interim (1xx) responses and
// returns a connection to the pool after a "101 Switching Protocols", whose
// later bytes are no HTTP: they would become another client's response. The
// proxy never asks an upstream to switch (it removes Upgrade), so a 101 ends
// the exchange with ErrUnexpectedSwitch, and the client closes the
// connection on a read error.
type upstreamConn struct {
	net.Conn
	timeout  time.Duration
	status   statusWatch
	reading  bool // the last call was a Read: the next Write starts a request
	switched bool // a 101 was seen: the connection carries no more HTTP
}

// switchMark is what the client's parser reads in place of an unasked 101,
// before the read error: with some bytes read, the error is reported as
// ErrUnexpectedSwitch rather than as the end of a stale connection, which
// the client would retry on a new one.
const switchMark = "unasked-101"

func (c *upstreamConn) Read(p []byte) (int, error) {
	if c.switched {
		return 0, ErrUnexpectedSwitch
	}
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	c.reading = true
	n, err := c.Conn.Read(p)
	if c.status.observe(p[:n]) {
		c.switched = true
		if len(p) < len(switchMark) {
			return 0, ErrUnexpectedSwitch
		}
		return copy(p, switchMark), nil
	}
	return n, err
}

func (c *upstreamConn) Write(p []byte) (int, error) {
	if c.switched {
		return 0, ErrUnexpectedSwitch
	}
	if c.reading {
		c.reading = false
		c.status = statusWatch{} // a new request: its response starts anew
	}
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// statusWatch follows the heads of one exchange's responses as they are
// read, the way the client parses them: empty lines before a status line are
// skipped, then the protocol, one or more spaces and a three-digit code. An
// interim head (1xx) is followed to its end, and the next head watched.
type statusWatch struct {
	state uint8
	code  int
	n     int  // digits of the code read
	lf    bool // the last byte of an interim head was LF (CRs skipped)
}

const (
	watchLead    = iota // before a status line: CR and LF are skipped
	watchProto          // in the protocol, up to the first space
	watchSpaces         // spaces before the code
	watchCode           // the three digits
	watchInterim        // the rest of a 1xx head, up to its empty line
	watchOff            // a final response: nothing more to watch
)

// observe reads b, the next bytes of the connection, and reports a 101.
func (w *statusWatch) observe(b []byte) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch w.state {
		case watchOff:
			return false
		case watchLead:
			if c != '\r' && c != '\n' {
				w.state = watchProto
			}
		case watchProto:
			if c == ' ' {
				w.state = watchSpaces
			}
		case watchSpaces:
			if c != ' ' {
				w.state, w.code, w.n = watchCode, 0, 0
				i-- // the first digit
			}
		case watchCode:
			if c < '0' || c > '9' {
				w.state = watchOff // not a status code: the client fails the exchange
				continue
			}
			w.code = w.code*10 + int(c-'0')
			if w.n++; w.n < 3 {
				continue
			}
			switch {
			case w.code == 101:
				return true
			case w.code >= 100 && w.code < 200:
				w.state, w.lf = watchInterim, false
			default:
				w.state = watchOff
			}
		case watchInterim:
			switch {
			case c == '\n' && w.lf:
				w.state = watchLead // the head ended: the next one follows
			case c == '\n':
				w.lf = true
			case c != '\r':
				w.lf = false
			}
		}
	}
	return false
}
