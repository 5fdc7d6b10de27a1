package client

import (
	"os/exec"
	"strings"
	"testing"
)

func TestBrowserCommand(t *testing.T) {
	found := func(name string) (string, error) {
		if name == "missing" {
			return "", exec.ErrNotFound
		}
		return "/usr/bin/" + name, nil
	}
	const target = "http://127.0.0.1:1/auth/cli?code=ab"
	cases := []struct {
		name   string
		goos   string
		env    map[string]string
		want   []string // nil: no command
		reason string
	}{
		{"linux without display", "linux", map[string]string{"BROWSER": "firefox"}, nil, "no display"},
		{"linux x11", "linux", map[string]string{"DISPLAY": ":0"}, []string{"/usr/bin/xdg-open", target}, ""},
		{"wayland BROWSER", "linux", map[string]string{"WAYLAND_DISPLAY": "wayland-0", "BROWSER": "missing:firefox --new-window"}, []string{"/usr/bin/firefox", "--new-window", target}, ""},
		{"BROWSER with %s", "freebsd", map[string]string{"DISPLAY": ":0", "BROWSER": "chromium --app=%s"}, []string{"/usr/bin/chromium", "--app=" + target}, ""},
		{"darwin needs no display", "darwin", nil, []string{"/usr/bin/open", target}, ""},
		{"windows", "windows", nil, []string{"/usr/bin/rundll32", "url.dll,FileProtocolHandler", target}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd, reason := browserCommand(target, tc.goos, func(k string) string { return tc.env[k] }, found)
			if tc.want == nil {
				if cmd != nil || reason != tc.reason {
					t.Fatalf("got %v %q, want none (%s)", cmd, reason, tc.reason)
				}
				return
			}
			if cmd == nil {
				t.Fatalf("no command: %s", reason)
			}
			got := append([]string{cmd.Path}, cmd.Args[1:]...)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("command %q, want %q", got, tc.want)
			}
		})
	}
}
