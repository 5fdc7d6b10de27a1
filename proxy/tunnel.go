package proxy

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zectre/zectre-auth/authn"
)

// tunnelBufSize is each direction's copy buffer. Small, because most
// tunnels sit idle most of the time and a 1 000 of them should not cost
// much; a large message simply takes more reads.
const tunnelBufSize = 8 << 10

// tunnel is one open WebSocket tunnel: the client's connection and the
// upstream's, with the bytes copied both ways until either side closes,
// the tunnel is idle for too long, its credential is revoked or the
// process shuts down.
type tunnel struct {
	tunnels   *Tunnels
	userID    string   // its user, or "" (anonymous on an optional route)
	keyDigest [32]byte // the API key it was opened with, when hasKey
	hasKey    bool
	// recheckFn decides the tunnel's credential again; nil when it was
	// opened without one. An error means the credential no longer passes.
	recheckFn func(context.Context) error

	up, client pipe // up: towards the upstream; client: towards the client
	last       atomic.Int64

	// The tunnel is registered (and may be closed) before the server hands
	// over the client connection: mu orders run's start against shut.
	mu     sync.Mutex
	closed bool
}

// pipe is one direction: what is read from src is written to dst. frames
// follows the WebSocket frames written, so that a close frame of the
// proxy's own is only ever put between two frames.
type pipe struct {
	src    io.Reader
	srcC   net.Conn // src's connection, for deadlines
	dst    net.Conn
	mu     sync.Mutex // held while writing to dst
	frames frameTracker
	masked bool // frames towards the upstream (client to server) are masked
	bytes  *atomic.Uint64
}

// run copies both ways and returns when the tunnel has ended. client is
// the hijacked client connection, head the 101 answer for it.
func (tn *tunnel) run(client net.Conn, head []byte) {
	defer tn.tunnels.remove(tn)
	tn.mu.Lock()
	if tn.closed { // revoked or shut down before it started
		tn.mu.Unlock()
		return
	}
	tn.client.mu.Lock()
	tn.client.dst = client
	tn.client.mu.Unlock()
	tn.up.src, tn.up.srcC = client, client
	tn.mu.Unlock()
	tn.touch()
	if _, err := client.Write(head); err != nil {
		tn.shut()
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { tn.copy(&tn.client) })
	tn.copy(&tn.up)
	wg.Wait()
}

// recheckTimeout bounds one recheck of a tunnel's credential.
const recheckTimeout = 5 * time.Second

// recheck decides the tunnel's credential again and closes the tunnel
// (close code 1008) when it was revoked. A store that cannot answer
// revokes nothing: an outage must not cut every open tunnel.
func (tn *tunnel) recheck() {
	ctx, cancel := context.WithTimeout(context.Background(), recheckTimeout)
	defer cancel()
	err := tn.recheckFn(ctx)
	if errors.Is(err, authn.ErrInvalidKey) || errors.Is(err, authn.ErrInvalidToken) {
		tn.close(ClosePolicyViolation)
	}
}

func (tn *tunnel) touch() { tn.last.Store(time.Now().UnixNano()) }

// copy moves bytes through p until a read or write fails, then ends the
// tunnel. A read deadline that passes while the other direction moved is
// moved on: the tunnel is idle only when neither did.
func (tn *tunnel) copy(p *pipe) {
	defer tn.shut()
	idle := tn.tunnels.idle
	buf := make([]byte, tunnelBufSize)
	deadline := time.Now().Add(idle)
	for {
		if err := p.srcC.SetReadDeadline(deadline); err != nil {
			return
		}
		n, err := p.src.Read(buf)
		if n > 0 {
			tn.touch()
			p.mu.Lock()
			p.frames.observe(buf[:n])
			_, werr := p.dst.Write(buf[:n])
			p.mu.Unlock()
			p.bytes.Add(uint64(n))
			if werr != nil {
				return
			}
		}
		switch {
		case err == nil:
			deadline = time.Now().Add(idle)
		case errors.Is(err, os.ErrDeadlineExceeded):
			last := time.Unix(0, tn.last.Load())
			if time.Since(last) >= idle {
				tn.close(CloseGoingAway)
				return
			}
			deadline = last.Add(idle)
		default:
			return
		}
	}
}

// close ends the tunnel, first sending each side a close frame with code
// where no frame is half written.
func (tn *tunnel) close(code uint16) {
	for _, p := range [...]*pipe{&tn.client, &tn.up} {
		p.mu.Lock()
		if p.dst != nil && p.frames.atBoundary() {
			_ = p.dst.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = p.dst.Write(closeFrame(code, p.masked))
		}
		p.mu.Unlock()
	}
	tn.shut()
}

// shut closes both connections, which ends both copies.
func (tn *tunnel) shut() {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if tn.closed {
		return
	}
	tn.closed = true
	_ = tn.up.dst.Close()
	tn.client.mu.Lock()
	if tn.client.dst != nil {
		_ = tn.client.dst.Close()
	}
	tn.client.mu.Unlock()
}

// closeFrame is a WebSocket close frame with code and no reason, masked
// as a client's frames must be when masked.
func closeFrame(code uint16, masked bool) []byte {
	payload := [2]byte{byte(code >> 8), byte(code)}
	if !masked {
		return []byte{0x88, 2, payload[0], payload[1]}
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	return []byte{0x88, 0x80 | 2, key[0], key[1], key[2], key[3], payload[0] ^ key[0], payload[1] ^ key[1]}
}

// frameTracker follows the WebSocket frames of one direction (RFC 6455
// §5.2) only as far as their lengths: the header (2 to 14 bytes) and the
// payload it announces. Control frames may come between the fragments of
// a message, so any frame boundary is a place for a close frame.
type frameTracker struct {
	hdr  [14]byte
	hn   int    // header bytes held
	need int    // the header's full length, once its second byte is in
	left uint64 // payload bytes still to come
}

func (f *frameTracker) atBoundary() bool { return f.hn == 0 && f.left == 0 }

func (f *frameTracker) observe(b []byte) {
	for len(b) > 0 {
		if f.left > 0 {
			k := uint64(len(b))
			if k > f.left {
				k = f.left
			}
			f.left -= k
			b = b[k:]
			continue
		}
		f.hdr[f.hn] = b[0]
		f.hn++
		b = b[1:]
		if f.hn == 2 {
			f.need = 2
			switch f.hdr[1] & 0x7f {
			case 126:
				f.need += 2
			case 127:
				f.need += 8
			}
			if f.hdr[1]&0x80 != 0 {
				f.need += 4
			}
		}
		if f.hn < 2 || f.hn < f.need {
			continue
		}
		switch n := f.hdr[1] & 0x7f; n {
		case 126:
			f.left = uint64(f.hdr[2])<<8 | uint64(f.hdr[3])
		case 127:
			for _, c := range f.hdr[2:10] {
				f.left = f.left<<8 | uint64(c)
			}
		default:
			f.left = uint64(n)
		}
		f.hn = 0
	}
}
