package deploy

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/zectre/zectre-auth/config"
)

func loadDockerfile(t *testing.T) []dockerStage {
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

// TestDockerfile checks what can be checked without a container engine:
// the syntax as BuildKit reads it (dockerfile_parse_test.go), a builder
// stage that compiles a static binary, and a runtime stage that is
// minimal, runs as non-root, and serves on the default ports.
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
			switch c.Name {
			case "add":
				if slices.ContainsFunc(c.Args[:len(c.Args)-1], func(w string) bool {
					return strings.Contains(w, "://") || strings.HasPrefix(w, "git@")
				}) {
					t.Errorf("line %d: ADD of a remote source; fetch nothing unverified into the image", c.Line)
				}
			case "copy":
				if from := c.flag("from"); from != "" {
					if j, ok := names[from]; !ok || j >= i {
						t.Errorf("line %d: COPY --from=%s names no earlier stage", c.Line, from)
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
		switch c.Name {
		case "run":
			if cmd := strings.Join(c.Args, " "); strings.Contains(cmd, "go build") {
				compile = cmd
			}
		case "copy":
			if c.flag("from") == "" {
				for _, src := range c.Args[:len(c.Args)-1] {
					if _, err := os.Stat(filepath.Join("..", src)); err != nil {
						t.Errorf("line %d: COPY source %q is not in the build context (the repository root)", c.Line, src)
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

func checkRuntimeStage(t *testing.T, final dockerStage) {
	t.Helper()
	var user, dataDir string
	var entry *dockerCommand
	var exposed, volumes, copied []string
	for _, c := range final.Commands {
		switch c.Name {
		case "user":
			user = c.Args[0]
		case "entrypoint":
			entry = &c
		case "expose":
			exposed = append(exposed, c.Args...)
		case "volume":
			volumes = append(volumes, c.Args...)
		case "env":
			for _, kv := range c.Env {
				if kv.Key == "ZECTRE_AUTH_DATA_DIR" {
					dataDir = kv.Value
				}
			}
		case "copy":
			copied = append(copied, c.Args[len(c.Args)-1])
		case "healthcheck":
			if final.BaseName == "scratch" {
				t.Errorf("line %d: HEALTHCHECK in an image without a shell or client to run it", c.Line)
			}
		case "run":
			if final.BaseName == "scratch" {
				t.Errorf("line %d: RUN in the runtime stage, which has no shell to run it with", c.Line)
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
	case entry == nil || len(entry.Args) == 0:
		t.Error("no ENTRYPOINT")
	case !entry.Exec:
		t.Errorf("ENTRYPOINT %q: want the exec form (a JSON array), so that SIGTERM reaches the binary", entry.Args)
	case !slices.Contains(copied, entry.Args[0]):
		t.Errorf("ENTRYPOINT runs %q, which no COPY puts into the image", entry.Args[0])
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
// stamp: it refuses each of these, as BuildKit's parser and its lint
// rules do.
func TestDockerfileParserRefusesMistakes(t *testing.T) {
	for _, text := range []string{
		"FROM golang:1.26 AS build\nRUNN go build\n",
		"RUN true\nFROM scratch\n",
		"FROM golang:1.26 AS\n",
		"FROM scratch\nCOPY --form=build /a /b\n",
		"FROM scratch AS Runtime\n", // lint: stage names are lower case
		"FROM scratch\nEXPOSE\n",
		"FROM golang:1.26 as build\n",               // lint: AS in the case of FROM
		"FROM golang:1.26 AS build\nMAINTAINER x\n", // lint: deprecated
		"FROM scratch\nRUN a \\\n\n  b\n",           // lint: empty continuation line
		"FROM golang:1.26 FOR build\n",
		"FROM golang:1.26 AS 1build\n",
		"FROM scratch\nCOPY --from=a --from=b /x /y\n",
		"FROM scratch\nCOPY --from /x /y\n",
		"FROM scratch\nCOPY /x\n",
		"FROM scratch\nSHELL /bin/sh -c\n",
		"FROM scratch\nENV A=1 B\n",
		"FROM scratch\nENV --x=1 A=1\n",
	} {
		if _, err := parseDockerfile(text); err == nil {
			t.Errorf("accepted %q", text)
		}
	}
}

// TestDockerignoreKeepsSecretsOut: a developer's ./data holds a real JWT
// secret and database, which must never enter an image layer. The patterns
// are read and matched by the library BuildKit uses (one small module with
// no dependencies; a matcher of our own could differ from it unseen).
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
