package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// durationSetting is a duration setting found on Config by reflection.
type durationSetting struct {
	key string // TOML key: read_timeout, auth.x, routes[].x
	env string // its environment variable, "" for one inside [[routes]]
}

// durationSettings lists every Duration field of Config, so that a new one
// is covered by the tests below without being named in them.
func durationSettings(t *testing.T) []durationSetting {
	t.Helper()
	var out []durationSetting
	walkSettings(reflect.TypeOf(Config{}), "", func(key string, f reflect.StructField, index []int) {
		switch f.Type {
		case durationType:
			out = append(out, durationSetting{key: key, env: f.Tag.Get("env")})
		case reflect.TypeFor[time.Duration]():
			t.Errorf("%s is a time.Duration, which a bare number decodes into: make it a Duration", key)
		}
	})
	if len(out) < 5 {
		t.Fatalf("found only %d duration settings; the walker is broken", len(out))
	}
	return out
}

// fileSetting writes key = value as a TOML document, in its section.
func fileSetting(key, value string) string {
	if section, leaf, ok := strings.Cut(key, "[]."); ok {
		return "[[" + section + "]]\n" + leaf + " = " + value + "\n"
	}
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return "[" + key[:i] + "]\n" + key[i+1:] + " = " + value + "\n"
	}
	return key + " = " + value + "\n"
}

// settingKey is the name a Problem gives to key in a file: routes[] entries
// are numbered.
func settingKey(key string) string { return strings.Replace(key, "[]", "[0]", 1) }

// TestDurationsRefuseNumbers: every duration setting, in the file and in the
// environment, refuses a bare number (which would otherwise be taken as
// nanoseconds) and anything else that is not a duration string, with a line
// naming the setting as written; a duration with a unit loads.
func TestDurationsRefuseNumbers(t *testing.T) {
	for _, d := range durationSettings(t) {
		if d.env == "" && !strings.Contains(d.key, "[]") {
			t.Errorf("%s has no environment variable; every top-level duration has one", d.key)
		}
		for _, tc := range []struct {
			name, value, contains string
		}{
			{"integer", "30", `the number 30 has no unit (write a duration string such as "30s"`},
			{"zero", "0", "the number 0 has no unit"},
			{"negative", "-5", "the number -5 has no unit"},
			{"float", "1.5", `the number 1.5 has no unit (write a duration string such as "1.5s")`},
			{"number in a string", `"30"`, `"30" has no unit`},
			{"zero in a string", `"0"`, `"0" has no unit`},
			{"not a duration", `"soon"`, `"soon" is not a duration`},
			{"boolean", "true", "want a duration string such as \"30s\", got a TOML boolean"},
			{"array", `["30s"]`, "got a TOML array"},
			{"table", `{ s = 30 }`, "got a TOML table"},
			{"date", "2026-01-01", "got a TOML date or time"},
		} {
			t.Run(d.key+"/file/"+tc.name, func(t *testing.T) {
				_, err := Load(writeFile(t, fileSetting(d.key, tc.value)), envOf(nil))
				ps := problems(t, err)
				if got := settings(ps); !slices.Equal(got, []string{settingKey(d.key)}) {
					t.Fatalf("problems name %q, want only %s (error: %v)", got, settingKey(d.key), err)
				}
				if !strings.Contains(ps[0].Message, tc.contains) || !strings.Contains(ps[0].Message, "line ") {
					t.Errorf("message %q, want %q and the line", ps[0].Message, tc.contains)
				}
			})
		}
		if d.env == "" {
			continue
		}
		for _, tc := range []struct {
			name, value, contains string
		}{
			{"integer", "30", `"30" has no unit`},
			{"zero", "0", `"0" has no unit`},
			{"float", "1.5", `"1.5" has no unit`},
			{"signed", "+30", `"+30" has no unit`},
			{"empty", "", `"" is not a duration`},
			{"not a duration", "soon", `"soon" is not a duration`},
		} {
			t.Run(d.key+"/env/"+tc.name, func(t *testing.T) {
				_, err := Load("", envOf(map[string]string{d.env: tc.value}))
				ps := problems(t, err)
				if got := settings(ps); !slices.Equal(got, []string{d.env}) {
					t.Fatalf("problems name %q, want only %s (error: %v)", got, d.env, err)
				}
				if !strings.Contains(ps[0].Message, tc.contains) {
					t.Errorf("message %q, want %q", ps[0].Message, tc.contains)
				}
			})
		}
	}
}

// TestDurationsWithUnitsLoad: a duration with a unit is read from the file
// and from the environment, which wins, and is named by where it came from.
func TestDurationsWithUnitsLoad(t *testing.T) {
	for _, d := range durationSettings(t) {
		if d.env == "" {
			continue
		}
		t.Run(d.key, func(t *testing.T) {
			get := func(c Config) time.Duration {
				var v reflect.Value
				walkSettings(reflect.TypeOf(c), "", func(key string, _ reflect.StructField, index []int) {
					if key == d.key {
						v = reflect.ValueOf(c).FieldByIndex(index)
					}
				})
				return v.Interface().(Duration).Std()
			}
			path := writeFile(t, fileSetting(d.key, `"1m30s"`))
			c, err := Load(path, envOf(nil))
			if err != nil || get(c) != 90*time.Second || c.name(d.key) != d.key {
				t.Fatalf("file: %v, %v, named %s", err, get(c), c.name(d.key))
			}
			c, err = Load(path, envOf(map[string]string{d.env: "250ms"}))
			if err != nil || get(c) != 250*time.Millisecond || c.name(d.key) != d.env {
				t.Fatalf("env: %v, %v, named %s", err, get(c), c.name(d.key))
			}
			if c, err = Load(writeFile(t, fileSetting(d.key, `"0s"`)), envOf(nil)); err != nil || get(c) != 0 {
				t.Fatalf(`"0s": %v, %v`, err, get(c))
			}
		})
	}
}

// TestEveryBadDurationAtOnce: one Load reports every bad duration of the
// file and of the environment, with the file's unknown keys, one line each.
func TestEveryBadDurationAtOnce(t *testing.T) {
	var doc strings.Builder
	var want []string
	envs := map[string]string{}
	for i, d := range durationSettings(t) {
		if d.env == "" {
			continue
		}
		if i%2 == 0 {
			doc.WriteString(fileSetting(d.key, "30"))
			want = append(want, d.key)
		} else {
			envs[d.env] = "30"
			want = append(want, d.env)
		}
	}
	doc.WriteString("no_such_setting = 1\n")
	want = append(want, "no_such_setting")
	_, err := Load(writeFile(t, doc.String()), envOf(envs))
	got := settings(problems(t, err))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("problems name %q, want %q\n%v", got, want, err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(want) {
		t.Errorf("%d lines for %d problems:\n%v", n, len(want), err)
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30s", 30 * time.Second, true},
		{"1h30m", 90 * time.Minute, true},
		{"0s", 0, true},
		{"-1s", -time.Second, true}, // Validate refuses it, naming the bounds
		{"30", 0, false},
		{"0", 0, false},
		{"1.5", 0, false},
		{".5", 0, false},
		{"-0", 0, false},
		{" 30 ", 0, false},
		{"30 s", 0, false},
		{"", 0, false},
		{".", 0, false},
		{"1e3", 0, false},
	} {
		got, err := parseDuration(tc.in)
		if (err == nil) != tc.ok || got.Std() != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok %v", tc.in, got.Std(), err, tc.want, tc.ok)
		}
		var d Duration
		if err := d.UnmarshalText([]byte(tc.in)); (err == nil) != tc.ok || d.Std() != tc.want {
			t.Errorf("UnmarshalText(%q) = %v, %v", tc.in, d.Std(), err)
		}
	}
}
