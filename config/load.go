package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// EnvConfigPath names the config file when --config is not given.
const EnvConfigPath = "ZECTRE_AUTH_CONFIG"

// Path picks the config file: the --config flag value if non-empty, else
// ZECTRE_AUTH_CONFIG, else "" (no file: defaults and environment only).
func Path(flagValue string, env func(string) (string, bool)) string {
	if flagValue != "" {
		return flagValue
	}
	if env != nil {
		if p, ok := env(EnvConfigPath); ok {
			return p
		}
	}
	return ""
}

// Load builds the configuration: defaults, then the TOML file at path (if
// path is not ""), then environment variables, which win. env is usually
// os.LookupEnv; a variable that is set, even to "", overrides the file.
// Load only parses: an unknown key or a value of the wrong type is an error,
// an out-of-range value is left for Validate. On error the Config is zero.
func Load(path string, env func(string) (string, bool)) (Config, error) {
	c := Default()
	c.origin = map[string]string{}
	dbSet := false
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("read config file: %w", err)
		}
		if dbSet, err = decodeFile(&c, path, data); err != nil {
			return Config{}, err
		}
	}
	if env != nil {
		walkSettings(reflect.TypeOf(c), "", func(key string, f reflect.StructField, index []int) {
			name := f.Tag.Get("env")
			if name == "" || index == nil {
				return
			}
			if s, ok := env(name); ok {
				reflect.ValueOf(&c).Elem().FieldByIndex(index).SetString(s)
				c.origin[key] = name
			}
		})
	}
	// The database follows data_dir unless the user chose one, so that moving
	// the data dir moves everything the embedded default keeps.
	if _, fromEnv := c.origin["database_url"]; !dbSet && !fromEnv && c.DataDir != "" {
		c.DatabaseURL = "sqlite://" + strings.TrimRight(c.DataDir, "/") + "/" + DefaultDatabaseFile
	}
	return c, nil
}

// decodeFile overlays the TOML document on c and reports whether it set
// database_url. Errors are Problems naming the key and file position.
func decodeFile(c *Config, path string, data []byte) (dbSet bool, err error) {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return false, fileError(path, err)
	}
	// A second, loose pass only to learn which top-level keys are present:
	// the struct cannot tell "absent" from "set to the default".
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		return false, fileError(path, err)
	}
	_, dbSet = raw["database_url"]
	return dbSet, nil
}

// fileError turns go-toml's errors into lines naming the key. It uses the
// errors' short messages, never their String(), which quotes the file's
// text and could put a secret in a log.
func fileError(path string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		errs := make([]error, 0, len(strict.Errors))
		for i := range strict.Errors {
			de := &strict.Errors[i]
			row, _ := de.Position()
			errs = append(errs, &Problem{
				Setting: keyName(de.Key()),
				Message: fmt.Sprintf("unknown setting (%s line %d)", path, row),
			})
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		msg := friendlyMessage(strings.TrimPrefix(de.Error(), "toml: "))
		if len(de.Key()) == 0 {
			return fmt.Errorf("%s:%d:%d: %s", path, row, col, msg)
		}
		return &Problem{
			Setting: keyName(de.Key()),
			Message: fmt.Sprintf("%s (%s line %d)", msg, path, row),
		}
	}
	return fmt.Errorf("%s: %w", path, err)
}

var typeMismatch = regexp.MustCompile(`^cannot decode TOML (\w+) into .* of type (\S+)$`)

// friendlyMessage rewrites go-toml's type errors, which name Go types, into
// what the user must write.
func friendlyMessage(msg string) string {
	m := typeMismatch.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	want := map[string]string{
		"string":          "a string",
		"config.AuthMode": "a string",
		"int":             "an integer",
		"[]string":        "an array of strings",
		"config.Auth":     "a table",
		"config.Limits":   "a table",
		"[]config.Route":  "an array of tables ([[routes]])",
		"config.Route":    "a table",
	}[m[2]]
	if want == "" {
		return msg
	}
	return fmt.Sprintf("want %s, got a TOML %s", want, m[1])
}

// keyName prints a TOML key path; [[routes]] entries become routes[] since
// go-toml does not say which entry.
func keyName(k toml.Key) string {
	parts := make([]string, len(k))
	for i, p := range k {
		if !bareKey.MatchString(p) {
			p = strconv.Quote(p) // keeps control characters out of the message
		}
		parts[i] = p
	}
	if len(parts) > 1 && parts[0] == "routes" {
		return "routes[]." + strings.Join(parts[1:], ".")
	}
	return strings.Join(parts, ".")
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// walkSettings calls fn for every leaf setting of t with its TOML key
// (auth.catalog_jwks_url, routes[].path). Sections recurse; unexported
// fields are skipped. Load applies env vars with it and the docs test
// checks coverage with it, so the two cannot drift apart.
func walkSettings(t reflect.Type, prefix string, fn func(key string, f reflect.StructField, index []int)) {
	walk(t, prefix, []int{}, fn)
}

// walk passes a nil index for fields inside slice elements: they have no
// fixed place in the Config.
func walk(t reflect.Type, prefix string, base []int, fn func(string, reflect.StructField, []int)) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		var index []int
		if base != nil {
			index = append(append([]int{}, base...), i)
		}
		switch {
		case f.Type.Kind() == reflect.Struct:
			walk(f.Type, prefix+name+".", index, fn)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			walk(f.Type.Elem(), prefix+name+"[].", nil, fn)
		default:
			fn(prefix+name, f, index)
		}
	}
}
