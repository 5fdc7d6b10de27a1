// Command zectre-auth is the edge auth service and its admin commands.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/zectre/zectre-auth/cmd/zectre-auth/client"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `usage: zectre-auth [command] [--config FILE]

commands:
  serve                      start the service (the default)
  migrate                    apply database migrations and exit
  users disable|enable EMAIL turn an account off or on
  users promote|demote EMAIL grant or take away admin
  users revoke-tokens EMAIL  log an account out everywhere (API keys stay)
                             (in an existing, migrated database only)
  keys check KEY|-           say, offline, whether KEY (or the line on
                             stdin) is a well-formed API key: exit 0 or 1
  version                    print the version
  help, -h, --help           print this help

client commands (API key in $XDG_CONFIG_HOME/zectre/credentials.json):
  login [--api URL] [--no-browser] [--device NAME]
                             log in through the browser and store an API key
  whoami [--api URL]         show who the stored key (or ZECTRE_API_KEY) is
  logout [--api URL]         revoke the stored key and delete it

  The API is --api, else the stored key's server, else ZECTRE_API_URL,
  else http://localhost:47080.

The configuration is the TOML file of --config (else $ZECTRE_AUTH_CONFIG)
and ZECTRE_AUTH_* environment variables. A configuration problem exits
with status 2.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stdout, stderr)
	case "migrate":
		return migrate(args, stdout, stderr)
	case "users":
		return users(args, stdout, stderr)
	case "keys":
		return keys(args, os.Stdin, stdout, stderr)
	case "login":
		return client.Login(version, args, stdout, stderr)
	case "whoami":
		return client.Whoami(version, args, stdout, stderr)
	case "logout":
		return client.Logout(version, args, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "zectre-auth", versionString())
		return 0
	default:
		fmt.Fprintf(stderr, "zectre-auth: unknown command %q\n%s", cmd, usage)
		return 2
	}
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v
}
