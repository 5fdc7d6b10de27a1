package service_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/service"
	"github.com/zectre/zectre-auth/store/storetest"
)

func testConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.DatabaseURL = storetest.SQLiteURL(t)
	cfg.JWTSecret = strings.Repeat("k", 32)
	return cfg
}

// fileAt is a regular file, where a directory would be needed.
func fileAt(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A failure of New names the setting whose value failed.
func TestNewNamesTheSetting(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*config.Config)
		key  string
	}{
		{"database", func(c *config.Config) { c.DatabaseURL = "sqlite://" + filepath.Join(fileAt(t), "x.db") }, "database_url"},
		{"redis", func(c *config.Config) { c.RedisURL = "redis://127.0.0.1:1" }, "redis_url"},
		{"secret in the data dir", func(c *config.Config) { c.JWTSecret, c.DataDir = "", filepath.Join(fileAt(t), "data") }, "data_dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.edit(&cfg)
			svc, err := service.New(context.Background(), cfg, service.Options{})
			var se *service.SettingError
			if !errors.As(err, &se) || se.Key != tc.key || svc != nil {
				t.Fatalf("New = %v, %v; want a SettingError of %s", svc, err, tc.key)
			}
		})
	}
}

// verify asks the front's forward-auth endpoint about path, anonymously.
func verify(svc *service.Service, path string) int {
	var rc fasthttp.RequestCtx
	rc.Request.SetRequestURI("/api/v1/auth/verify" + path)
	svc.Front.Serve(&rc)
	return rc.Response.StatusCode()
}

// The edge a reload would build replaces the running one as a whole: the
// next request is decided by the new route table.
func TestEdgeReplaced(t *testing.T) {
	cfg := testConfig(t)
	cfg.Routes = []config.Route{{Path: "/private/**", Auth: config.AuthRequired}}
	svc, err := service.New(context.Background(), cfg, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if got := verify(svc, "/private/x"); got != 401 {
		t.Fatalf("before: %d, want 401", got)
	}
	next := cfg
	next.Routes = []config.Route{{Path: "/private/**", Auth: config.AuthPublic}}
	edge, err := svc.NewEdge(next)
	if err != nil {
		t.Fatal(err)
	}
	old := svc.Front.Edge()
	svc.Front.SetEdge(edge)
	old.Close()
	if got := verify(svc, "/private/x"); got != 200 {
		t.Fatalf("after: %d, want 200", got)
	}
	svc.Close()
	svc.Close() // twice is harmless
}
