package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRequestLimitsLoad: the request limits are read from the file, keep
// their defaults when absent, and are refused out of bounds, each named by
// its TOML key.
func TestRequestLimitsLoad(t *testing.T) {
	d := Default()
	if d.MaxHeaderBytes != 16<<10 || d.MaxBodyBytes != 1<<20 || d.MaxProxyBodyBytes != 0 ||
		d.ReadTimeout.Std() != 30*time.Second || d.IdleTimeout.Std() != 2*time.Minute {
		t.Fatalf("defaults: %+v", d)
	}
	c, err := Load(writeFile(t, `
max_header_bytes = 8192
max_body_bytes = 65536
max_proxy_body_bytes = 1048576
read_timeout = "5s"
idle_timeout = "90s"
`), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.MaxHeaderBytes != 8192 || c.MaxBodyBytes != 65536 || c.MaxProxyBodyBytes != 1<<20 ||
		c.ReadTimeout.Std() != 5*time.Second || c.IdleTimeout.Std() != 90*time.Second {
		t.Fatalf("loaded: %+v", c)
	}
	if _, err := Load(writeFile(t, "max_body_bytes = \"1MiB\"\n"), envOf(nil)); err == nil ||
		!strings.Contains(err.Error(), "max_body_bytes: want an integer") {
		t.Fatalf("a string for max_body_bytes: %v", err)
	}
}

func TestRequestLimitsValidate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		edit     func(c *Config)
		settings []string
		contains string
	}{
		{"bounds ok", func(c *Config) {
			c.MaxHeaderBytes, c.MaxBodyBytes = MinHeaderBytesLimit, MaxBodyBytesLimit
			c.MaxProxyBodyBytes = 1
			c.ReadTimeout, c.IdleTimeout = MaxReadTimeout, MaxIdleTimeout
		}, nil, ""},
		{"header too small", func(c *Config) { c.MaxHeaderBytes = 1024 }, []string{"max_header_bytes"}, "from 4096 to 262144 bytes, got 1024"},
		{"header too large", func(c *Config) { c.MaxHeaderBytes = 1 << 20 }, []string{"max_header_bytes"}, "got 1048576"},
		{"body zero", func(c *Config) { c.MaxBodyBytes = 0 }, []string{"max_body_bytes"}, "from 4096 to 67108864 bytes"},
		{"body too large", func(c *Config) { c.MaxBodyBytes = MaxBodyBytesLimit + 1 }, []string{"max_body_bytes"}, ""},
		{"proxy body negative", func(c *Config) { c.MaxProxyBodyBytes = -1 }, []string{"max_proxy_body_bytes"}, "0 (no limit)"},
		{"timeouts zero", func(c *Config) { c.ReadTimeout, c.IdleTimeout = 0, 0 },
			[]string{"read_timeout", "idle_timeout"}, "more than 0s"},
		{"timeouts too long", func(c *Config) {
			c.ReadTimeout, c.IdleTimeout = MaxReadTimeout+1, MaxIdleTimeout+1
		}, []string{"read_timeout", "idle_timeout"}, "at most 10m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			if got := settings(problems(t, err)); !slices.Equal(got, tc.settings) {
				t.Fatalf("settings = %q, want %q (error: %v)", got, tc.settings, err)
			}
			if err != nil && !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
		})
	}
}
