package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/authn"
)

// TestKeysCheck runs "keys check" on the binary, with no configuration and
// no server: a generated key is well formed (exit 0), anything else is not
// (exit 1), and the output never repeats the key or says why it failed.
func TestKeysCheck(t *testing.T) {
	nk, err := authn.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good := nk.Raw
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, key, stdin string
		code             int
	}{
		{"generated", good, "", 0},
		{"from stdin", "-", good + "\n", 0},
		{"from stdin, CRLF", "-", good + "\r\n", 0},
		{"checksum changed", flip(len(good) - 1), "", 1},
		{"random part changed", flip(10), "", 1},
		{"wrong prefix", "zek_" + good[4:], "", 1},
		{"too short", good[:len(good)-1], "", 1},
		{"too long", good + "0", "", 1},
		{"not base62", good[:20] + "-" + good[21:], "", 1},
		{"empty stdin", "-", "", 1},
		{"empty", "", "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary, "keys", "check", tc.key)
			cmd.Env = env()
			cmd.Stdin = strings.NewReader(tc.stdin)
			var o, e bytes.Buffer
			cmd.Stdout, cmd.Stderr = &o, &e
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, o.String(), e.String())
			}
			out := o.String() + e.String()
			if strings.Contains(out, good[4:20]) || strings.Contains(out, "checksum mismatch") || strings.Contains(out, "length") {
				t.Fatalf("output reveals more than the verdict: %q", out)
			}
		})
	}
	for _, args := range [][]string{{"keys"}, {"keys", "check"}, {"keys", "show", good}, {"keys", "check", good, good}} {
		if _, _, code := command(t, t.TempDir(), env(), args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", args, code)
		}
	}
}
