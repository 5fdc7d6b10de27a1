package deploy

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/config"
)

// composeFile is the part of the Compose specification compose.yaml uses.
// Decoded strictly: a misspelt key (depends_on as dependsOn, a service
// option Compose does not know) fails instead of being ignored.
type composeFile struct {
	Name     string                    `json:"name"`
	Services map[string]composeService `json:"services"`
	Volumes  map[string]*struct{}      `json:"volumes,omitempty"`
}

type composeService struct {
	Build *struct {
		Context    string            `json:"context"`
		Dockerfile string            `json:"dockerfile,omitempty"`
		Args       map[string]string `json:"args,omitempty"`
	} `json:"build,omitempty"`
	Image       string            `json:"image,omitempty"`
	Command     []string          `json:"command,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
	Volumes     []string          `json:"volumes,omitempty"`
	Ports       []string          `json:"ports,omitempty"`
	DependsOn   map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on,omitempty"`
	Healthcheck *struct {
		Test        []string `json:"test"`
		Interval    string   `json:"interval,omitempty"`
		Timeout     string   `json:"timeout,omitempty"`
		Retries     int      `json:"retries,omitempty"`
		StartPeriod string   `json:"start_period,omitempty"`
	} `json:"healthcheck,omitempty"`
	ReadOnly        bool     `json:"read_only,omitempty"`
	User            string   `json:"user,omitempty"`
	CapDrop         []string `json:"cap_drop,omitempty"`
	SecurityOpt     []string `json:"security_opt,omitempty"`
	StopGracePeriod string   `json:"stop_grace_period,omitempty"`
	Restart         string   `json:"restart,omitempty"`
}

// interpolation is Compose's ${NAME}, ${NAME:-default}, ${NAME:?message}.
var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}`)

// interpolate substitutes variables as Compose does, from env; a :? variable
// missing from env is an error with its message.
func interpolate(s string, env map[string]string) (string, error) {
	var err error
	out := interpolation.ReplaceAllStringFunc(s, func(m string) string {
		p := interpolation.FindStringSubmatch(m)
		v, ok := env[p[1]]
		switch {
		case ok && v != "":
			return v
		case p[2] == ":-":
			return p[3]
		case p[2] == ":?":
			err = fmt.Errorf("%s: %s", p[1], p[3])
		case !ok:
			err = fmt.Errorf("%s is not set and has no default", p[1])
		}
		return v
	})
	return strings.ReplaceAll(out, "$$", "$"), err
}

const authService = "zectre-auth"

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := decodeStrict(data, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if _, ok := c.Services[authService]; !ok {
		t.Fatalf("compose.yaml has no service %q", authService)
	}
	return c
}

// TestComposeDecodesStrictly also shows that the compose decoder refuses a
// misspelt key.
func TestComposeDecodesStrictly(t *testing.T) {
	loadCompose(t)
	var c composeFile
	if err := decodeStrict([]byte("services:\n  x:\n    image: x\n    dependsOn: [y]\n"), &c); err == nil {
		t.Error("a misspelt service key was accepted")
	}
	if err := decodeStrict([]byte("services: {}\nnetwork: {}\n"), &c); err == nil {
		t.Error("an unknown top-level key was accepted")
	}
}

// TestComposeWiring checks that the services reach each other as written
// and that zectre-auth starts with the configuration it is given.
func TestComposeWiring(t *testing.T) {
	c := loadCompose(t)
	auth := c.Services[authService]

	if auth.Build == nil {
		t.Fatal("zectre-auth is not built from the Dockerfile")
	}
	df := filepath.Join(auth.Build.Context, auth.Build.Dockerfile)
	if abs, _ := filepath.Abs(df); abs != mustAbs(t, "Dockerfile") {
		t.Errorf("build context %q + dockerfile %q is not deploy/Dockerfile", auth.Build.Context, auth.Build.Dockerfile)
	}

	for name, s := range c.Services {
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on %s, which is not a service", name, dep)
			case d.Condition == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, dep)
			case d.Condition != "service_healthy" && d.Condition != "service_started" && d.Condition != "service_completed_successfully":
				t.Errorf("%s depends on %s with unknown condition %q", name, dep, d.Condition)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s mounts %s, which does not exist", name, src)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s mounts the volume %q, which is not declared", name, src)
			}
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %q beyond loopback: a trial setup must not be reachable from the network", name, p)
			}
		}
	}
	for _, dep := range []string{"postgres", "redis"} {
		if auth.DependsOn[dep].Condition != "service_healthy" {
			t.Errorf("zectre-auth does not wait for %s to be healthy: it refuses to start without it", dep)
		}
	}

	if auth.User == "" || strings.HasPrefix(auth.User, "0") || auth.User == "root" {
		t.Errorf("zectre-auth runs as %q, want a non-root uid", auth.User)
	}
	if !auth.ReadOnly || len(auth.CapDrop) != 1 || auth.CapDrop[0] != "ALL" {
		t.Error("zectre-auth must run read_only with cap_drop [ALL]")
	}

	cfg := composeConfig(t, c, auth)
	for setting, host := range map[string]string{"database_url": hostOf(t, cfg.DatabaseURL), "redis_url": hostOf(t, cfg.RedisURL), "upstream": hostOf(t, cfg.Upstream)} {
		if _, ok := c.Services[host]; !ok {
			t.Errorf("%s points at host %q, which is not a service of compose.yaml", setting, host)
		}
	}
	echo := c.Services[hostOf(t, cfg.Upstream)]
	if u, _ := url.Parse(cfg.Upstream); echo.Environment["PORT"] != u.Port() {
		t.Errorf("upstream port %s is not the echo server's PORT %q", u.Port(), echo.Environment["PORT"])
	}
	grace, err := time.ParseDuration(auth.StopGracePeriod)
	if err != nil || grace <= cfg.ShutdownDelay.Std()+cfg.ShutdownTimeout.Std()+shutdownTail {
		t.Errorf("stop_grace_period %q must exceed shutdown_delay + shutdown_timeout + %s", auth.StopGracePeriod, shutdownTail)
	}
	for _, addr := range []string{cfg.Listen, cfg.AdminListen} {
		_, port, _ := net.SplitHostPort(addr)
		if !containsPublished(auth.Ports, port) {
			t.Errorf("the port of %s is not published", addr)
		}
	}
}

// composeConfig loads zectre-auth's configuration as the container would:
// the mounted file named by ZECTRE_AUTH_CONFIG, and the environment after
// interpolation (with a JWT secret supplied, as the comment tells).
func composeConfig(t *testing.T, c composeFile, auth composeService) config.Config {
	t.Helper()
	hostEnv := map[string]string{"ZECTRE_AUTH_JWT_SECRET": strings.Repeat("s", 64)}
	if _, err := interpolate(auth.Environment["ZECTRE_AUTH_JWT_SECRET"], nil); err == nil {
		t.Error("ZECTRE_AUTH_JWT_SECRET has a default in compose.yaml; a fixed secret would sign real tokens")
	}
	env := map[string]string{}
	for k, v := range auth.Environment {
		s, err := interpolate(v, hostEnv)
		if err != nil {
			t.Fatalf("environment %s: %v", k, err)
		}
		env[k] = s
	}
	inContainer := env[config.EnvConfigPath]
	var file string
	for _, v := range auth.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == inContainer {
			file = parts[0]
		}
	}
	if file == "" {
		t.Fatalf("%s=%q is not a mounted file", config.EnvConfigPath, inContainer)
	}
	delete(env, config.EnvConfigPath)
	cfg, err := config.Load(file, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("%s does not load: %v", file, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("compose configuration does not validate: %v", err)
	}
	return cfg
}

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		t.Fatalf("%q has no host", raw)
	}
	return u.Hostname()
}

func containsPublished(ports []string, containerPort string) bool {
	for _, p := range ports {
		if strings.HasSuffix(p, ":"+containerPort) {
			return true
		}
	}
	return false
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"A": "a", "E": ""}
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"${A}", "a", false},
		{"x${A}y", "xay", false},
		{"${B:-b}", "b", false},
		{"${E:-e}", "e", false},
		{"${A:?must}", "a", false},
		{"${B:?must}", "", true},
		{"${B}", "", true},
		{"$$A", "$A", false},
	} {
		got, err := interpolate(tc.in, env)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("interpolate(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
