package deploy

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zectre/zectre-auth/config"
)

// instruction is one Dockerfile instruction with its continuation lines
// joined.
type instruction struct {
	line int    // where it starts, 1-based
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// stage is one FROM and the instructions up to the next.
type stage struct {
	image, name string
	body        []instruction
}

// knownInstructions are the Dockerfile instructions BuildKit accepts
// (MAINTAINER is deprecated and left out).
var knownInstructions = []string{"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE",
	"FROM", "HEALTHCHECK", "LABEL", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}

// parseDockerfile reads the instructions of a Dockerfile: comments and
// blank lines are skipped (also between continuation lines, as BuildKit
// does), a trailing backslash continues an instruction.
func parseDockerfile(text string) ([]instruction, error) {
	var out []instruction
	var cur *instruction
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		cont := strings.HasSuffix(line, `\`)
		line = strings.TrimSuffix(line, `\`)
		if cur != nil {
			cur.args += " " + strings.TrimSpace(line)
		} else {
			cmd, args, _ := strings.Cut(trimmed, " ")
			cmd = strings.ToUpper(cmd)
			if !slices.Contains(knownInstructions, cmd) {
				return nil, fmt.Errorf("line %d: unknown instruction %q", i+1, cmd)
			}
			cur = &instruction{line: i + 1, cmd: cmd, args: strings.TrimSpace(strings.TrimSuffix(args, `\`))}
		}
		if !cont {
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: the file ends inside a continued instruction", cur.line)
	}
	return out, nil
}

// stages groups instructions by FROM; ARGs before the first FROM are global.
func stages(ins []instruction) ([]stage, error) {
	var out []stage
	for _, in := range ins {
		if in.cmd != "FROM" {
			if len(out) == 0 {
				if in.cmd != "ARG" {
					return nil, fmt.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
				}
				continue
			}
			out[len(out)-1].body = append(out[len(out)-1].body, in)
			continue
		}
		var words []string
		for _, w := range strings.Fields(in.args) {
			if !strings.HasPrefix(w, "--") {
				words = append(words, w)
			}
		}
		st := stage{}
		switch {
		case len(words) == 1:
			st.image = words[0]
		case len(words) == 3 && strings.EqualFold(words[1], "AS"):
			st.image, st.name = words[0], words[2]
		default:
			return nil, fmt.Errorf("line %d: FROM %q is not `image [AS name]`", in.line, in.args)
		}
		out = append(out, st)
	}
	return out, nil
}

// flags splits an instruction's leading --flag=value options from the rest.
func flags(args string) (map[string]string, []string) {
	f := map[string]string{}
	var rest []string
	for _, w := range strings.Fields(args) {
		if k, v, ok := strings.Cut(strings.TrimPrefix(w, "--"), "="); ok && strings.HasPrefix(w, "--") && len(rest) == 0 {
			f[k] = v
			continue
		}
		rest = append(rest, w)
	}
	return f, rest
}

func loadDockerfile(t *testing.T) []stage {
	t.Helper()
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	ins, err := parseDockerfile(string(data))
	if err != nil {
		t.Fatal(err)
	}
	st, err := stages(ins)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDockerfile checks what can be checked without a container engine:
// the syntax, a builder stage that compiles a static binary, and a runtime
// stage that is minimal, runs as non-root, and serves on the default ports.
func TestDockerfile(t *testing.T) {
	st := loadDockerfile(t)
	if len(st) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(st))
	}
	names := map[string]int{}
	for i, s := range st {
		if s.name != "" {
			if _, dup := names[s.name]; dup {
				t.Errorf("stage name %q used twice", s.name)
			}
			names[s.name] = i
		}
		for _, in := range s.body {
			if in.cmd == "ADD" {
				if _, rest := flags(in.args); slices.ContainsFunc(rest, func(w string) bool {
					return strings.Contains(w, "://") || strings.HasPrefix(w, "git@")
				}) {
					t.Errorf("line %d: ADD of a remote source; fetch nothing unverified into the image", in.line)
				}
			}
			if in.cmd == "COPY" {
				f, _ := flags(in.args)
				if from, ok := f["from"]; ok {
					if j, ok := names[from]; !ok || j >= i {
						t.Errorf("line %d: COPY --from=%s names no earlier stage", in.line, from)
					}
				}
			}
		}
	}

	build := st[0]
	if !strings.HasPrefix(build.image, "golang:1.26") {
		t.Errorf("builder image %q, want golang:1.26 (go.mod's Go version)", build.image)
	}
	var compile string
	for _, in := range build.body {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			compile = in.args
		}
		if in.cmd == "COPY" {
			if f, rest := flags(in.args); f["from"] == "" {
				for _, src := range rest[:len(rest)-1] {
					if _, err := os.Stat(filepath.Join("..", src)); err != nil {
						t.Errorf("line %d: COPY source %q is not in the build context (the repository root)", in.line, src)
					}
				}
			}
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", `-ldflags "-s -w`, "./cmd/zectre-auth"} {
		if !strings.Contains(compile, want) {
			t.Errorf("the builder's go build lacks %s: %q", want, compile)
		}
	}

	final := st[len(st)-1]
	if final.image != "scratch" && !strings.Contains(final.image, "distroless/static") {
		t.Errorf("runtime image %q, want scratch or a distroless static image", final.image)
	}
	checkRuntimeStage(t, final)
}

func checkRuntimeStage(t *testing.T, final stage) {
	t.Helper()
	var user, entry, dataDir string
	var exposed, volumes, copied []string
	for _, in := range final.body {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entry = in.args
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		case "VOLUME":
			var v []string
			if err := json.Unmarshal([]byte(in.args), &v); err != nil {
				v = strings.Fields(in.args)
			}
			volumes = append(volumes, v...)
		case "ENV":
			if v, ok := strings.CutPrefix(in.args, "ZECTRE_AUTH_DATA_DIR="); ok {
				dataDir = v
			}
		case "COPY":
			if _, rest := flags(in.args); len(rest) > 1 {
				copied = append(copied, rest[len(rest)-1])
			}
		case "HEALTHCHECK":
			if final.image == "scratch" {
				t.Errorf("line %d: HEALTHCHECK in an image without a shell or client to run it", in.line)
			}
		case "RUN":
			if final.image == "scratch" {
				t.Errorf("line %d: RUN in the runtime stage, which has no shell to run it with", in.line)
			}
		}
	}

	uid, gid, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric non-root uid (the image has no /etc/passwd)", user)
	}
	if gid != "" {
		if n, err := strconv.Atoi(gid); err != nil || n == 0 {
			t.Errorf("USER %q: want a numeric non-root gid", user)
		}
	}

	var argv []string
	if err := json.Unmarshal([]byte(entry), &argv); err != nil || len(argv) == 0 {
		t.Errorf("ENTRYPOINT %q: want the exec form (a JSON array), so that SIGTERM reaches the binary", entry)
	} else if !slices.Contains(copied, argv[0]) {
		t.Errorf("ENTRYPOINT runs %q, which no COPY puts into the image", argv[0])
	}
	if !slices.Contains(copied, "/etc/ssl/certs/ca-certificates.crt") {
		t.Error("no CA certificates: https upstreams and the catalog JWKS could not be verified")
	}

	for _, addr := range []string{config.DefaultListen, config.DefaultAdminListen} {
		_, port, _ := net.SplitHostPort(addr)
		if !slices.Contains(exposed, port) {
			t.Errorf("EXPOSE lacks %s (from the default %s)", port, addr)
		}
	}
	if dataDir == "" || !slices.Contains(volumes, dataDir) {
		t.Errorf("ZECTRE_AUTH_DATA_DIR %q is not a VOLUME (%v)", dataDir, volumes)
	}
}

// TestDockerfileParserRefusesMistakes shows the parser above is no
// rubber stamp.
func TestDockerfileParserRefusesMistakes(t *testing.T) {
	for _, text := range []string{
		"FROM golang:1.26 AS build\nRUNN go build\n",
		"RUN true\nFROM scratch\n",
		"FROM golang:1.26 AS\n",
		"FROM scratch\nRUN a \\\n",
	} {
		ins, err := parseDockerfile(text)
		if err == nil {
			_, err = stages(ins)
		}
		if err == nil {
			t.Errorf("accepted %q", text)
		}
	}
}

// TestDockerignoreKeepsSecretsOut: a developer's ./data holds a real JWT
// secret and database, which must never enter an image layer.
func TestDockerignoreKeepsSecretsOut(t *testing.T) {
	data, err := os.ReadFile("Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	for _, want := range []string{"data", "**/data", ".git"} {
		if !slices.Contains(patterns, want) {
			t.Errorf("Dockerfile.dockerignore lacks %q", want)
		}
	}
}
