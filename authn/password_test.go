package authn

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// testPasswordParams keep tests fast; the service uses DefaultPasswordParams().
var testPasswordParams = PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newTestPasswords(t testing.TB, p PasswordParams, maxConcurrent int) *Passwords {
	t.Helper()
	pw, err := NewPasswords(p, maxConcurrent)
	if err != nil {
		t.Fatalf("NewPasswords: %v", err)
	}
	return pw
}

func TestPasswordRoundTrip(t *testing.T) {
	pw := newTestPasswords(t, testPasswordParams, 2)
	ctx := context.Background()
	for _, password := range []string{"correct horse battery staple", "pässwörd✓", strings.Repeat("x", 1024), "a"} {
		h, err := pw.Hash(ctx, password)
		if err != nil {
			t.Fatalf("Hash: %v", err)
		}
		ok, rehash, err := pw.Verify(ctx, password, h)
		if err != nil || !ok || rehash {
			t.Fatalf("Verify(right password) = %v, %v, %v; want true, false, nil", ok, rehash, err)
		}
		for _, wrong := range []string{password + "x", strings.ToUpper(password), "", password[:len(password)-1]} {
			if wrong == password {
				continue
			}
			ok, rehash, err := pw.Verify(ctx, wrong, h)
			if err != nil || ok || rehash {
				t.Errorf("Verify(%.20q) = %v, %v, %v; want false, false, nil", wrong, ok, rehash, err)
			}
		}
	}
}

func TestPasswordHashFormat(t *testing.T) {
	pw := newTestPasswords(t, testPasswordParams, 1)
	a, err := pw.Hash(context.Background(), "password1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := pw.Hash(context.Background(), "password1")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(a) {
		t.Errorf("hash %q does not match %v", a, re)
	}
	if a == b {
		t.Error("two hashes of one password are equal: salt is not random")
	}
}

func TestPasswordDefaultParamsPHC(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes with the real cost")
	}
	pw := newTestPasswords(t, DefaultPasswordParams(), 1)
	h, err := pw.Hash(context.Background(), "password1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q does not carry OWASP's minimum parameters", h)
	}
}

func TestPasswordNeedsRehash(t *testing.T) {
	ctx := context.Background()
	old := newTestPasswords(t, testPasswordParams, 1)
	h, err := old.Hash(ctx, "password1")
	if err != nil {
		t.Fatal(err)
	}
	raise := []struct {
		name   string
		change func(*PasswordParams)
		rehash bool
	}{
		{"same", func(*PasswordParams) {}, false},
		{"memory", func(p *PasswordParams) { p.Memory = 128 }, true},
		{"time", func(p *PasswordParams) { p.Time = 2 }, true},
		{"threads", func(p *PasswordParams) { p.Threads = 2 }, true},
		{"key length", func(p *PasswordParams) { p.KeyLen = 64 }, true},
		{"salt length", func(p *PasswordParams) { p.SaltLen = 32 }, true},
		{"lower memory", func(p *PasswordParams) { p.Memory = 32 }, false},
	}
	for _, tc := range raise {
		t.Run(tc.name, func(t *testing.T) {
			p := testPasswordParams
			tc.change(&p)
			cur := newTestPasswords(t, p, 1)
			ok, rehash, err := cur.Verify(ctx, "password1", h)
			if err != nil || !ok || rehash != tc.rehash {
				t.Fatalf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tc.rehash)
			}
			// A wrong password never asks for a rehash.
			if ok, rehash, _ := cur.Verify(ctx, "password2", h); ok || rehash {
				t.Errorf("Verify(wrong) = %v, %v; want false, false", ok, rehash)
			}
		})
	}
}

func TestPasswordMalformedPHC(t *testing.T) {
	pw := newTestPasswords(t, testPasswordParams, 1)
	good, err := pw.Hash(context.Background(), "password1")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Split(good, "$") // "", argon2id, v=19, m=64,t=1,p=1, salt, hash
	salt, hash := fields[4], fields[5]
	with := func(params, s, h string) string { return "$argon2id$v=19$" + params + "$" + s + "$" + h }
	cases := []struct{ name, phc string }{
		{"garbage", "not a hash"},
		{"dollar only", "$"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + hash},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + hash},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + hash},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + hash},
		{"no leading dollar", good[1:]},
		{"trailing dollar", good + "$"},
		{"extra field", good + "$AAAA"},
		{"missing hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"params reordered", with("t=1,m=64,p=1", salt, hash)},
		{"params missing p", with("m=64,t=1", salt, hash)},
		{"params extra", with("m=64,t=1,p=1,k=2", salt, hash)},
		{"params with data", with("m=64,t=1,p=1,data=abc", salt, hash)},
		{"memory zero", with("m=0,t=1,p=1", salt, hash)},
		{"memory below 8p", with("m=15,t=1,p=2", salt, hash)},
		{"memory 4 TiB", with("m=4294967295,t=1,p=1", salt, hash)},
		{"memory overflow", with("m=99999999999,t=1,p=1", salt, hash)},
		{"memory negative", with("m=-64,t=1,p=1", salt, hash)},
		{"memory plus", with("m=+64,t=1,p=1", salt, hash)},
		{"memory leading zero", with("m=064,t=1,p=1", salt, hash)},
		{"memory hex", with("m=0x40,t=1,p=1", salt, hash)},
		{"memory empty", with("m=,t=1,p=1", salt, hash)},
		{"memory space", with("m= 64,t=1,p=1", salt, hash)},
		{"time zero", with("m=64,t=0,p=1", salt, hash)},
		{"time huge", with("m=64,t=4294967295,p=1", salt, hash)},
		{"threads zero", with("m=64,t=1,p=0", salt, hash)},
		{"threads 256", with("m=4096,t=1,p=256", salt, hash)},
		{"salt empty", with("m=64,t=1,p=1", "", hash)},
		{"salt short", with("m=64,t=1,p=1", "AAAA", hash)},
		{"salt not base64", with("m=64,t=1,p=1", "!!!!!!!!!!!!!!!!!!!!!!", hash)},
		{"salt padded", with("m=64,t=1,p=1", salt+"==", hash)},
		{"salt url alphabet", with("m=64,t=1,p=1", "____________________AA", hash)},
		{"salt non-canonical bits", with("m=64,t=1,p=1", salt[:21]+"B", hash)},
		{"hash empty", with("m=64,t=1,p=1", salt, "")},
		{"hash short", with("m=64,t=1,p=1", salt, "AAAAAAAAAAA")},
		{"hash huge", with("m=64,t=1,p=1", salt, strings.Repeat("A", 100000))},
		{"nul byte", good + "\x00"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := pw.Verify(context.Background(), "password1", tc.phc)
			if err == nil || ok || rehash {
				t.Fatalf("Verify(%q) = %v, %v, %v; want an error", tc.phc, ok, rehash, err)
			}
			if !errors.Is(err, errMalformedPHC) {
				t.Errorf("error %v does not wrap errMalformedPHC", err)
			}
		})
	}
}

func TestPasswordUnknownEmail(t *testing.T) {
	pw := newTestPasswords(t, testPasswordParams, 1)
	for _, password := range []string{"", "password1", "anything at all"} {
		ok, rehash, err := pw.Verify(context.Background(), password, "")
		if err != nil || ok || rehash {
			t.Errorf("Verify(%q, no hash) = %v, %v, %v; want false, false, nil", password, ok, rehash, err)
		}
	}
	// It does the work: it needs a hashing slot like any other verification.
	pw.sem <- struct{}{}
	defer pw.release()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, _, err := pw.Verify(ctx, "password1", ""); !errors.Is(err, ErrBusy) {
		t.Errorf("unknown email with no free slot: err = %v; want ErrBusy", err)
	}
}

func TestPasswordBusy(t *testing.T) {
	pw := newTestPasswords(t, testPasswordParams, 2)
	h, err := pw.Hash(context.Background(), "password1")
	if err != nil {
		t.Fatal(err)
	}
	// Saturate the semaphore as two in-flight hashes would.
	pw.sem <- struct{}{}
	pw.sem <- struct{}{}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := pw.Hash(ctx, "password1"); !errors.Is(err, ErrBusy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Hash when saturated: err = %v; want ErrBusy and DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited < 15*time.Millisecond {
		t.Errorf("gave up after %v; want it to wait for ctx", waited)
	}
	if ok, _, err := pw.Verify(ctx, "password1", h); ok || !errors.Is(err, ErrBusy) {
		t.Errorf("Verify when saturated: %v, %v; want false, ErrBusy", ok, err)
	}
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := pw.Hash(canceled, "password1"); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash with canceled ctx when saturated: err = %v; want ErrBusy", err)
	}

	// A waiter gets the slot once one frees.
	done := make(chan error, 1)
	go func() {
		ok, _, err := pw.Verify(context.Background(), "password1", h)
		if err == nil && !ok {
			err = errors.New("password did not verify")
		}
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	pw.release()
	if err := <-done; err != nil {
		t.Errorf("waiting Verify: %v", err)
	}
	pw.release()
	if n := len(pw.sem); n != 0 {
		t.Errorf("%d slots still held after all work finished", n)
	}
}

func TestPasswordConcurrentUse(t *testing.T) {
	pw := newTestPasswords(t, testPasswordParams, 3)
	h, err := pw.Hash(context.Background(), "password1")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			password := "password1"
			if i%2 == 1 {
				password = "wrong"
			}
			ok, _, err := pw.Verify(context.Background(), password, h)
			if err != nil || ok != (i%2 == 0) {
				t.Errorf("Verify(%q) = %v, %v", password, ok, err)
			}
		})
	}
	wg.Wait()
	if n := len(pw.sem); n != 0 {
		t.Errorf("%d slots leaked", n)
	}
}

func TestNewPasswordsRejects(t *testing.T) {
	cases := []struct {
		name string
		p    PasswordParams
		max  int
	}{
		{"time zero", PasswordParams{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}, 1},
		{"threads zero", PasswordParams{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32}, 1},
		{"memory below 8 per thread", PasswordParams{Memory: 15, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, 1},
		{"salt short", PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}, 1},
		{"key short", PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}, 1},
		{"no concurrency", testPasswordParams, 0},
		{"negative concurrency", testPasswordParams, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewPasswords(tc.p, tc.max); err == nil {
				t.Errorf("NewPasswords(%+v, %d) succeeded", tc.p, tc.max)
			}
		})
	}
}

// BenchmarkPasswordVerify is the cost of one login with the real parameters.
func BenchmarkPasswordVerify(b *testing.B) {
	pw := newTestPasswords(b, DefaultPasswordParams(), 1)
	ctx := context.Background()
	h, err := pw.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := pw.Verify(ctx, "correct horse battery staple", h); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkPasswordVerifyUnknownEmail should cost what BenchmarkPasswordVerify
// does: an attacker must not learn which emails exist from the timing.
func BenchmarkPasswordVerifyUnknownEmail(b *testing.B) {
	pw := newTestPasswords(b, DefaultPasswordParams(), 1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := pw.Verify(ctx, "correct horse battery staple", ""); ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
