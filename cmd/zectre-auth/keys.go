package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/zectre/zectre-auth/authn"
)

// keys runs "keys check KEY": offline, it says whether KEY has the shape
// and checksum of a zectre API key, for scanners and for people holding a
// string they found. It reads no configuration and asks no server, so it
// says nothing about whether the key exists, whose it is or what it may do.
// KEY "-" is read from the first line of standard input, which keeps a live
// key out of the shell's history and the process list.
func keys(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprint(stderr, "usage: zectre-auth keys check KEY|-\n")
		return 2
	}
	key := args[1]
	if key == "-" {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && err != io.EOF {
			fmt.Fprintf(stderr, "zectre-auth: reading the key: %v\n", err)
			return 2
		}
		key = strings.TrimRight(line, "\r\n")
	}
	if _, err := authn.ParseKey(key); err != nil {
		fmt.Fprintln(stdout, "not a zectre API key")
		return 1
	}
	fmt.Fprintln(stdout, "a well-formed zectre API key (checksum valid)")
	return 0
}
