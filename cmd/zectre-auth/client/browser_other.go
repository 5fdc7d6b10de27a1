//go:build !unix

package client

import "os/exec"

// detach is a no-op where Ctrl-C does not reach child processes through a
// shared process group.
func detach(*exec.Cmd) {}
