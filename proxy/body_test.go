package proxy

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// TestRequestBodyLimit: a body up to the limit passes whole and ends with
// io.EOF; a longer one passes exactly limit bytes and then fails with
// ErrBodyTooLarge, which is kept as the client's error, however the reads
// are sized.
func TestRequestBodyLimit(t *testing.T) {
	const limit = 1000
	for _, tc := range []struct {
		size int
		over bool
	}{{0, false}, {1, false}, {limit, false}, {limit + 1, true}, {3 * limit, true}} {
		for _, chunk := range []int{1, 7, limit, limit + 1, 64 << 10} {
			src := iotest.HalfReader(bytes.NewReader(bytes.Repeat([]byte("b"), tc.size)))
			b := &requestBody{r: src, limit: limit}
			got, err := readInChunks(b, chunk)
			if !tc.over {
				if err != nil || got != tc.size || b.err != nil {
					t.Errorf("size %d, reads of %d: %d bytes, %v (kept %v); want all, no error", tc.size, chunk, got, err, b.err)
				}
				continue
			}
			if !errors.Is(err, ErrBodyTooLarge) || got != limit || !errors.Is(b.err, ErrBodyTooLarge) {
				t.Errorf("size %d, reads of %d: %d bytes, %v (kept %v); want %d bytes, then ErrBodyTooLarge", tc.size, chunk, got, err, b.err, limit)
			}
			// Once cut, it stays cut.
			if n, err := b.Read(make([]byte, 10)); n != 0 || !errors.Is(err, ErrBodyTooLarge) {
				t.Errorf("read after the cut: %d, %v", n, err)
			}
		}
	}
	// No limit: everything passes.
	b := &requestBody{r: bytes.NewReader(make([]byte, 1<<20))}
	if got, err := readInChunks(b, 4096); err != nil || got != 1<<20 {
		t.Errorf("without a limit: %d bytes, %v", got, err)
	}
}

// readInChunks reads b to its end with buffers of size n, as the upstream
// client does, and returns how many bytes passed and the error that ended
// it (nil for io.EOF).
func readInChunks(b *requestBody, n int) (int, error) {
	buf := make([]byte, n)
	total := 0
	for {
		k, err := b.Read(buf)
		total += k
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}
