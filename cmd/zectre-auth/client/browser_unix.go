//go:build unix

package client

import (
	"os/exec"
	"syscall"
)

// detach puts the browser in its own process group, so that Ctrl-C on
// login (which the terminal sends to the whole foreground group) does not
// also close the browser it just started.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
