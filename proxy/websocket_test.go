package proxy

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestWantsWebSocket: only a body-less HTTP/1.1 GET with the upgrade token
// in Connection and websocket in Upgrade, in any case and within lists.
func TestWantsWebSocket(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		want       bool
	}{
		{"plain", "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n", true},
		{"any case, lists", "GET / HTTP/1.1\r\nConnection: keep-alive, UPGRADE\r\nUpgrade: h2c, WebSocket\r\n", true},
		{"two Connection lines", "GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: upgrade\r\nUpgrade: websocket\r\n", true},
		{"h2c", "GET / HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n", false},
		{"no upgrade token", "GET / HTTP/1.1\r\nConnection: keep-alive\r\nUpgrade: websocket\r\n", false},
		{"token as a substring", "GET / HTTP/1.1\r\nConnection: upgraded\r\nUpgrade: websockets\r\n", false},
		{"POST", "POST / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\n", false},
		{"HTTP/1.0", "GET / HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n", false},
		{"with a body", "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n", false},
		{"chunked", "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			if err := h.Read(bufio.NewReader(strings.NewReader(tc.head + "Host: a\r\n\r\n"))); err != nil {
				t.Fatal(err)
			}
			if got := wantsWebSocket(&h); got != tc.want {
				t.Fatalf("wantsWebSocket = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFrameTracker: frame boundaries are found whatever the reads' sizes,
// for each length form, masked or not.
func TestFrameTracker(t *testing.T) {
	frame := func(masked bool, n int) []byte {
		b := []byte{0x82}
		m := byte(0)
		if masked {
			m = 0x80
		}
		switch {
		case n < 126:
			b = append(b, m|byte(n))
		case n < 1<<16:
			b = append(b, m|126, byte(n>>8), byte(n))
		default:
			b = append(b, m|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		}
		if masked {
			b = append(b, 1, 2, 3, 4)
		}
		return append(b, make([]byte, n)...)
	}
	for _, tc := range []struct {
		name   string
		masked bool
		n      int
	}{
		{"empty", false, 0}, {"short", false, 5}, {"short masked", true, 125},
		{"16-bit", false, 126}, {"16-bit masked", true, 65535}, {"64-bit", false, 70000}, {"64-bit masked", true, 1 << 20},
	} {
		for _, step := range []int{1, 3, 7, 4096} {
			b := frame(tc.masked, tc.n)
			var f frameTracker
			for i := 0; i < len(b); i += step {
				if f.atBoundary() && i > 0 {
					t.Fatalf("%s, reads of %d: boundary at %d of %d", tc.name, step, i, len(b))
				}
				f.observe(b[i:min(i+step, len(b))])
			}
			if !f.atBoundary() {
				t.Fatalf("%s, reads of %d: no boundary at the frame's end", tc.name, step)
			}
		}
	}
}

// TestCloseFrame: the code in network order; masked frames carry a key.
func TestCloseFrame(t *testing.T) {
	if got := closeFrame(1008, false); string(got) != "\x88\x02\x03\xf0" {
		t.Fatalf("unmasked: %x", got)
	}
	m := closeFrame(1001, true)
	if len(m) != 8 || m[0] != 0x88 || m[1] != 0x82 || (m[6]^m[2]) != 0x03 || (m[7]^m[3]) != 0xe9 {
		t.Fatalf("masked: %x", m)
	}
}
