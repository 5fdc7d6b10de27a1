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
// Load only parses: an unknown key, a value of the wrong type or a duration
// without a unit is an error, an out-of-range value is left for Validate.
// Every such problem of the file and the environment is reported at once.
// On error the Config is zero.
func Load(path string, env func(string) (string, bool)) (Config, error) {
	c, problems, err := load(path, env)
	if err == nil && len(problems) > 0 {
		err = errors.Join(problems...)
	}
	if err != nil {
		return Config{}, err
	}
	return c, nil
}

// LoadValid is Load followed by Validate, with the problems of both in one
// error: a duration without a unit or an unknown key does not hide what
// Validate finds in the other settings (a bad duration keeps its default
// meanwhile). A file that cannot be read or parsed, or a value of the wrong
// type, which stops the TOML decoder, is reported alone. On error the
// Config is zero.
func LoadValid(path string, env func(string) (string, bool)) (Config, error) {
	c, problems, err := load(path, env)
	if err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		problems = append(problems, flatten(err)...)
	}
	if len(problems) > 0 {
		return Config{}, errors.Join(problems...)
	}
	return c, nil
}

// load is Load's work. fatal is an error after which the Config is not
// whole (an unreadable or unparsable file, a value of the wrong type);
// problems leave the other settings loaded.
func load(path string, env func(string) (string, bool)) (c Config, problems []error, fatal error) {
	c = Default()
	c.origin = map[string]string{}
	dbSet := false
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, nil, fmt.Errorf("read config file: %w", err)
		}
		if dbSet, errs, err = decodeFile(&c, path, data); err != nil {
			return Config{}, nil, err
		}
	}
	if env != nil {
		walkSettings(reflect.TypeOf(c), "", func(key string, f reflect.StructField, index []int) {
			name := f.Tag.Get("env")
			if name == "" || index == nil {
				return
			}
			s, ok := env(name)
			if !ok {
				return
			}
			field := reflect.ValueOf(&c).Elem().FieldByIndex(index)
			if f.Type == durationType {
				d, err := parseDuration(s)
				if err != nil {
					errs = append(errs, &Problem{Setting: name, Message: err.Error()})
					return
				}
				field.Set(reflect.ValueOf(d))
			} else if f.Type.Kind() == reflect.Slice {
				field.Set(reflect.ValueOf(splitList(s)))
			} else {
				field.SetString(s)
			}
			c.origin[key] = name
		})
	}
	// The database follows data_dir unless the user chose one, so that moving
	// the data dir moves everything the embedded default keeps.
	if _, fromEnv := c.origin["database_url"]; !dbSet && !fromEnv && c.DataDir != "" {
		c.DatabaseURL = "sqlite://" + strings.TrimRight(c.DataDir, "/") + "/" + DefaultDatabaseFile
	}
	return c, errs, nil
}

// flatten lists the errors of a joined error, so that joining it again
// keeps one line per problem at one level.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// decodeFile overlays the TOML document on c and reports whether it set
// database_url. The document is decoded into Config's shadow (shadow.go),
// so that every duration is checked: problems are the bad durations and the
// unknown keys, each a Problem naming the key and file position; fatal is
// an error that stopped the decoder.
func decodeFile(c *Config, path string, data []byte) (dbSet bool, problems []error, fatal error) {
	shadow := reflect.New(shadowType(reflect.TypeOf(*c))).Elem()
	toShadow(shadow, reflect.ValueOf(*c))
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var errs []error
	if err := dec.Decode(shadow.Addr().Interface()); err != nil {
		// Unknown keys are reported after a complete decode, so the
		// durations can still be read; any other error stops the decode.
		var strict *toml.StrictMissingError
		if !errors.As(err, &strict) {
			return false, nil, fileError(path, err)
		}
		errs = flatten(fileError(path, err))
	}
	where := func(key string) string {
		if n := keyLine(data, key); n > 0 {
			return fmt.Sprintf("%s line %d", path, n)
		}
		return path
	}
	fromShadow(reflect.ValueOf(c).Elem(), shadow, "", where, &errs)
	// A second, loose pass only to learn which top-level keys are present:
	// the struct cannot tell "absent" from "set to the default".
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		return false, nil, fileError(path, err)
	}
	_, dbSet = raw["database_url"]
	return dbSet, errs, nil
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
		msg := friendlyMessage(strings.TrimPrefix(de.Error(), "toml: "), de.Key())
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

var typeMismatch = regexp.MustCompile(`^cannot decode TOML (\w+) into `)

// friendlyMessage rewrites go-toml's type errors, which name Go types (and
// those of the shadow are long), into what the user must write for key.
func friendlyMessage(msg string, key toml.Key) string {
	m := typeMismatch.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	return fmt.Sprintf("want %s, got a TOML %s", wantOf(settingType(key), key), m[1])
}

// settingType is the Go type of the setting or section at key, or nil.
func settingType(key toml.Key) reflect.Type {
	t := reflect.TypeFor[Config]()
	for _, part := range key {
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
		found := false
		for i := range t.NumField() {
			f := t.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("toml"), ","); f.IsExported() && name == part {
				t, found = f.Type, true
				break
			}
		}
		if !found {
			return nil
		}
	}
	return t
}

// wantOf says what a value of type t is written as in TOML.
func wantOf(t reflect.Type, key toml.Key) string {
	switch {
	case t == nil:
		return "another type"
	case t == durationType:
		return "a duration string such as \"30s\""
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Int:
		return "an integer"
	case t.Kind() == reflect.Bool:
		return "a boolean (true or false)"
	case t.Kind() == reflect.Struct:
		return "a table"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return fmt.Sprintf("an array of tables ([[%s]])", key[len(key)-1])
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "an array of strings"
	}
	return "another type"
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

// splitList is a list setting's environment form: comma-separated, spaces
// around items ignored, empty items dropped (so "" is the empty list).
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
