package deploy

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/zectre/zectre-auth/config"
)

// parseDockerfile reads a Dockerfile with BuildKit's own parser, the one
// `docker build` runs: the syntax, each instruction's flags and arguments,
// and BuildKit's lint rules (any warning is an error here).
func parseDockerfile(text string) ([]instructions.Stage, error) {
	res, err := parser.Parse(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	var warnings []string
	for _, w := range res.Warnings {
		warnings = append(warnings, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		warnings = append(warnings, fmt.Sprintf("line %d: %s: %s", line, rule, msg))
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, err
	}
	if len(warnings) > 0 {
		return nil, fmt.Errorf("lint: %s", strings.Join(warnings, "; "))
	}
	return stages, nil
}

func loadDockerfile(t *testing.T) []instructions.Stage {
	t.Helper()
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseDockerfile(string(data))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return st
}

// line is where a command starts in the Dockerfile.
func line(c instructions.Command) int {
	if loc := c.Location(); len(loc) > 0 {
		return loc[0].Start.Line
	}
	return 0
}

// TestDockerfile checks what can be checked without a container engine:
// the syntax as BuildKit reads it, a builder stage that compiles a static
// binary, and a runtime stage that is minimal, runs as non-root, and
// serves on the default ports.
func TestDockerfile(t *testing.T) {
	st := loadDockerfile(t)
	if len(st) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(st))
	}
	names := map[string]int{}
	for i, s := range st {
		if s.Name != "" {
			if _, dup := names[s.Name]; dup {
				t.Errorf("stage name %q used twice", s.Name)
			}
			names[s.Name] = i
		}
		for _, c := range s.Commands {
			switch c := c.(type) {
			case *instructions.AddCommand:
				if slices.ContainsFunc(c.SourcePaths, func(w string) bool {
					return strings.Contains(w, "://") || strings.HasPrefix(w, "git@")
				}) {
					t.Errorf("line %d: ADD of a remote source; fetch nothing unverified into the image", line(c))
				}
			case *instructions.CopyCommand:
				if c.From != "" {
					if j, ok := names[c.From]; !ok || j >= i {
						t.Errorf("line %d: COPY --from=%s names no earlier stage", line(c), c.From)
					}
				}
			}
		}
	}

	build := st[0]
	if !strings.HasPrefix(build.BaseName, "golang:1.26") {
		t.Errorf("builder image %q, want golang:1.26 (go.mod's Go version)", build.BaseName)
	}
	var compile string
	for _, c := range build.Commands {
		switch c := c.(type) {
		case *instructions.RunCommand:
			if cmd := strings.Join(c.CmdLine, " "); strings.Contains(cmd, "go build") {
				compile = cmd
			}
		case *instructions.CopyCommand:
			if c.From == "" {
				for _, src := range c.SourcePaths {
					if _, err := os.Stat(filepath.Join("..", src)); err != nil {
						t.Errorf("line %d: COPY source %q is not in the build context (the repository root)", line(c), src)
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
	if final.BaseName != "scratch" && !strings.Contains(final.BaseName, "distroless/static") {
		t.Errorf("runtime image %q, want scratch or a distroless static image", final.BaseName)
	}
	checkRuntimeStage(t, final)
}

func checkRuntimeStage(t *testing.T, final instructions.Stage) {
	t.Helper()
	var user, dataDir string
	var entry *instructions.EntrypointCommand
	var exposed, volumes, copied []string
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			entry = c
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.VolumeCommand:
			volumes = append(volumes, c.Volumes...)
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				if kv.Key == "ZECTRE_AUTH_DATA_DIR" {
					dataDir = kv.Value
				}
			}
		case *instructions.CopyCommand:
			copied = append(copied, c.DestPath)
		case *instructions.HealthCheckCommand:
			if final.BaseName == "scratch" {
				t.Errorf("line %d: HEALTHCHECK in an image without a shell or client to run it", line(c))
			}
		case *instructions.RunCommand:
			if final.BaseName == "scratch" {
				t.Errorf("line %d: RUN in the runtime stage, which has no shell to run it with", line(c))
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

	switch {
	case entry == nil || len(entry.CmdLine) == 0:
		t.Error("no ENTRYPOINT")
	case entry.PrependShell:
		t.Errorf("ENTRYPOINT %q: want the exec form (a JSON array), so that SIGTERM reaches the binary", entry.CmdLine)
	case !slices.Contains(copied, entry.CmdLine[0]):
		t.Errorf("ENTRYPOINT runs %q, which no COPY puts into the image", entry.CmdLine[0])
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

// TestDockerfileParserRefusesMistakes shows the parse above is no rubber
// stamp: BuildKit's parser and its lint rules refuse each of these.
func TestDockerfileParserRefusesMistakes(t *testing.T) {
	for _, text := range []string{
		"FROM golang:1.26 AS build\nRUNN go build\n",
		"RUN true\nFROM scratch\n",
		"FROM golang:1.26 AS\n",
		"FROM scratch\nCOPY --form=build /a /b\n",
		"FROM scratch AS Runtime\n", // lint: stage names are lower case
		"FROM scratch\nEXPOSE\n",
	} {
		if _, err := parseDockerfile(text); err == nil {
			t.Errorf("accepted %q", text)
		}
	}
}

// TestDockerignoreKeepsSecretsOut: a developer's ./data holds a real JWT
// secret and database, which must never enter an image layer. The patterns
// are read and matched by the library BuildKit uses.
func TestDockerignoreKeepsSecretsOut(t *testing.T) {
	data, err := os.ReadFile("Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	for path, excluded := range map[string]bool{
		"data/jwt-secret":                        true,
		"data/zectre-auth.db":                    true,
		"cmd/zectre-auth/data/x.db":              true,
		".git/config":                            true,
		"bin/zectre-auth":                        true,
		"zectre-auth":                            true,
		"go.mod":                                 false,
		"go.sum":                                 false,
		"cmd/zectre-auth/main.go":                false,
		"handlers/clipage/cli.js":                false,
		"store/migrations/postgres/001_init.sql": false,
	} {
		got, err := pm.MatchesOrParentMatches(path)
		if err != nil {
			t.Fatal(err)
		}
		if got != excluded {
			t.Errorf("%s: excluded from the context = %v, want %v", path, got, excluded)
		}
	}
}
