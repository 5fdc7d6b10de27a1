package client

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// goos and execLookPath are the platform facts browserCommand decides on.
var (
	goos         = runtime.GOOS
	execLookPath = exec.LookPath
)

// browserCommand is the command that shows target in the user's browser,
// or nil and the reason there is none. $BROWSER (commands separated like
// PATH, "%s" standing for the URL) comes first, then the platform's opener.
// On X11 and Wayland systems a browser needs a display: over SSH or in a
// container there is none, and a text browser taking over the terminal
// while login polls would only get in the way.
func browserCommand(target, goos string, getenv func(string) string, lookPath func(string) (string, error)) (*exec.Cmd, string) {
	if goos != "darwin" && goos != "windows" && getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return nil, "no display"
	}
	for _, entry := range strings.Split(getenv("BROWSER"), string(os.PathListSeparator)) {
		fields := strings.Fields(entry)
		if len(fields) == 0 {
			continue
		}
		path, err := lookPath(fields[0])
		if err != nil {
			continue
		}
		args, placed := make([]string, 0, len(fields)), false
		for _, a := range fields[1:] {
			if strings.Contains(a, "%s") {
				a, placed = strings.ReplaceAll(a, "%s", target), true
			}
			args = append(args, a)
		}
		if !placed {
			args = append(args, target)
		}
		return exec.Command(path, args...), ""
	}
	name, args := "xdg-open", []string{target}
	switch goos {
	case "darwin":
		name = "open"
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler", target}
	}
	path, err := lookPath(name)
	if err != nil {
		return nil, "no " + name
	}
	return exec.Command(path, args...), ""
}
