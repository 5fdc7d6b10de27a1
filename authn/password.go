package authn

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id cost parameters of new password hashes.
type PasswordParams struct {
	Memory  uint32 // memory per hash in KiB; at least 8 per thread
	Time    uint32 // passes over the memory; at least 1
	Threads uint8  // lanes (parallelism); at least 1
	SaltLen uint32 // random salt length in bytes; at least 8
	KeyLen  uint32 // derived hash length in bytes; at least 16
}

// DefaultPasswordParams is OWASP's minimum for argon2id (19 MiB, 2 passes,
// 1 lane). The service always uses it (or higher); lower values exist only so
// that tests run fast.
func DefaultPasswordParams() PasswordParams {
	return PasswordParams{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Floors that keep a hash meaningful whatever the configured cost. The cost
// itself is not floored: tests use tiny memory on purpose.
const (
	phcMinSaltLen = 8
	phcMinKeyLen  = 16
	phcMaxPart    = 1024 // bytes of salt or hash accepted from a stored PHC string

	// A stored hash is recomputed with its own parameters, so bound them: a
	// corrupted or planted row must not make one login allocate terabytes.
	// 2 GiB is RFC 9106's first recommended option.
	phcMaxMemory = 2 * 1024 * 1024 // KiB
	phcMaxTime   = 32
)

// errMalformedPHC: a stored hash that is not an argon2id PHC string this
// package can verify. It is a storage problem, not a wrong password.
var errMalformedPHC = errors.New("authn: malformed password hash")

// Passwords hashes and verifies passwords with argon2id, at most
// maxConcurrent at a time: each hash holds Memory KiB, so an unbounded login
// burst would exhaust memory.
type Passwords struct {
	params PasswordParams
	sem    chan struct{}
	dummy  phc // hash of a random password; unknown emails are verified against it
	// freeing is set while a return of hashing memory to the OS is pending.
	freeing atomic.Bool
}

// freeAfter is how long hashing must have been idle before its memory is
// handed back to the operating system. Each hash allocates Memory KiB (19
// MiB by default) that the Go runtime would otherwise keep for minutes: for
// a sidecar whose every other need is a few MiB, that is most of its
// resident memory.
const freeAfter = 2 * time.Second

// NewPasswords returns a hasher with the given parameters and concurrency
// bound. Any params satisfying the floors in PasswordParams are accepted; the
// service passes DefaultPasswordParams(). It computes one hash to prepare the
// dummy used for unknown emails.
func NewPasswords(p PasswordParams, maxConcurrent int) (*Passwords, error) {
	switch {
	case p.Time < 1:
		return nil, errors.New("authn: password params: time must be at least 1")
	case p.Threads < 1:
		return nil, errors.New("authn: password params: threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads):
		return nil, errors.New("authn: password params: memory must be at least 8 KiB per thread")
	case p.SaltLen < phcMinSaltLen || p.SaltLen > phcMaxPart:
		return nil, fmt.Errorf("authn: password params: salt length must be %d to %d bytes", phcMinSaltLen, phcMaxPart)
	case p.KeyLen < phcMinKeyLen || p.KeyLen > phcMaxPart:
		return nil, fmt.Errorf("authn: password params: key length must be %d to %d bytes", phcMinKeyLen, phcMaxPart)
	case maxConcurrent < 1:
		return nil, errors.New("authn: password hashing concurrency must be at least 1")
	}
	pw := &Passwords{params: p, sem: make(chan struct{}, maxConcurrent)}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("authn: dummy password: %w", err)
	}
	dummy, err := pw.derive(string(secret[:]))
	if err != nil {
		return nil, err
	}
	pw.dummy = dummy
	pw.freeWhenIdle()
	return pw, nil
}

// Hash returns the PHC string of password with a fresh random salt:
// $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash> (unpadded
// standard base64). It returns an error wrapping ErrBusy when ctx ends before
// a hashing slot frees.
func (p *Passwords) Hash(ctx context.Context, password string) (string, error) {
	if err := p.acquire(ctx); err != nil {
		return "", err
	}
	defer p.release()
	h, err := p.derive(password)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// Verify reports whether password matches the stored PHC string, and whether
// the stored hash is weaker than the current parameters (rehash it on a
// successful login). An empty phc means the account does not exist: the
// password is hashed against a dummy so the caller spends the same time, and
// ok is false. A malformed phc is an error. Waiting for a slot behaves as in
// Hash.
func (p *Passwords) Verify(ctx context.Context, password, phcString string) (ok, needsRehash bool, err error) {
	stored := p.dummy
	known := phcString != ""
	if known {
		stored, err = parsePHC(phcString, p.params)
		if err != nil {
			return false, false, err
		}
	}
	if err := p.acquire(ctx); err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), stored.salt, stored.time, stored.memory, stored.threads, uint32(len(stored.hash)))
	p.release()
	match := subtle.ConstantTimeCompare(got, stored.hash) == 1
	if !known || !match {
		return false, false, nil
	}
	return true, stored.weakerThan(p.params), nil
}

func (p *Passwords) acquire(ctx context.Context) error {
	select {
	case p.sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	}
}

func (p *Passwords) release() {
	<-p.sem
	if len(p.sem) == 0 {
		p.freeWhenIdle()
	}
}

// freeWhenIdle returns the hashes' memory to the OS freeAfter from now if
// no hash runs then: at most one collection per freeAfter, however many
// logins come.
func (p *Passwords) freeWhenIdle() {
	if !p.freeing.CompareAndSwap(false, true) {
		return
	}
	time.AfterFunc(freeAfter, func() {
		p.freeing.Store(false)
		if len(p.sem) == 0 {
			debug.FreeOSMemory()
		} else {
			p.freeWhenIdle()
		}
	})
}

func (p *Passwords) derive(password string) (phc, error) {
	salt := make([]byte, p.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return phc{}, fmt.Errorf("authn: password salt: %w", err)
	}
	return phc{
		memory:  p.params.Memory,
		time:    p.params.Time,
		threads: p.params.Threads,
		salt:    salt,
		hash:    argon2.IDKey([]byte(password), salt, p.params.Time, p.params.Memory, p.params.Threads, p.params.KeyLen),
	}, nil
}

// phc is a decoded argon2id PHC string.
type phc struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	hash    []byte
}

var phcBase64 = base64.RawStdEncoding.Strict()

func (h phc) String() string {
	return "$argon2id$v=" + strconv.Itoa(argon2.Version) +
		"$m=" + strconv.FormatUint(uint64(h.memory), 10) +
		",t=" + strconv.FormatUint(uint64(h.time), 10) +
		",p=" + strconv.FormatUint(uint64(h.threads), 10) +
		"$" + phcBase64.EncodeToString(h.salt) +
		"$" + phcBase64.EncodeToString(h.hash)
}

func (h phc) weakerThan(cur PasswordParams) bool {
	return h.memory < cur.Memory || h.time < cur.Time || h.threads < cur.Threads ||
		len(h.salt) < int(cur.SaltLen) || len(h.hash) < int(cur.KeyLen)
}

// parsePHC decodes s strictly: exactly the form String produces, version 19,
// parameters in the order m, t, p, and costs bounded (see phcMax*) so
// that verifying a tampered row stays affordable.
func parsePHC(s string, cur PasswordParams) (phc, error) {
	bad := func(why string) (phc, error) { return phc{}, fmt.Errorf("%w: %s", errMalformedPHC, why) }
	if len(s) > 4*phcMaxPart {
		return bad("too long")
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("wrong number of fields")
	}
	if parts[1] != "argon2id" {
		return bad("not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return bad("wrong parameter list")
	}
	m, err := phcUint(params[0], "m=", 32)
	if err != nil {
		return bad("memory: " + err.Error())
	}
	t, err := phcUint(params[1], "t=", 32)
	if err != nil {
		return bad("time: " + err.Error())
	}
	th, err := phcUint(params[2], "p=", 8)
	if err != nil {
		return bad("threads: " + err.Error())
	}
	switch {
	case t < 1 || t > uint64(max(phcMaxTime, cur.Time)):
		return bad("time out of range")
	case th < 1:
		return bad("threads out of range")
	case m < 8*th || m > uint64(max(phcMaxMemory, cur.Memory)):
		return bad("memory out of range")
	}
	if len(parts[4]) > phcMaxPart*4/3+1 || len(parts[5]) > phcMaxPart*4/3+1 {
		return bad("salt or hash too long")
	}
	salt, err := phcBase64.DecodeString(parts[4])
	if err != nil || len(salt) < phcMinSaltLen {
		return bad("salt")
	}
	hash, err := phcBase64.DecodeString(parts[5])
	if err != nil || len(hash) < phcMinKeyLen || len(hash) > phcMaxPart {
		return bad("hash")
	}
	return phc{memory: uint32(m), time: uint32(t), threads: uint8(th), salt: salt, hash: hash}, nil
}

// phcUint parses "<prefix><decimal>" with no sign, no leading zeros and no
// overflow of bits.
func phcUint(s, prefix string, bits int) (uint64, error) {
	digits, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, errors.New("missing " + prefix)
	}
	if digits == "" || (len(digits) > 1 && digits[0] == '0') || digits[0] < '0' || digits[0] > '9' {
		return 0, errors.New("not a canonical number")
	}
	return strconv.ParseUint(digits, 10, bits)
}
