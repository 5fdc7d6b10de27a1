//go:build !unix

package main

import "os/exec"

// detach is a no-op where Ctrl-C does not reach child processes through a
// shared process group.
func detach(*exec.Cmd) {}
