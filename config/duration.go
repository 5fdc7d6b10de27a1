package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("60s",
// "1m30s"), so that a unit is always explicit.
//
// Its underlying type is an integer, so a TOML decoder would put a bare
// number straight into it without asking UnmarshalText (30 would be 30 ns).
// Load therefore never decodes into a Duration: it decodes every duration
// setting as a raw value and parses it with parseDuration (see shadow.go).
type Duration time.Duration

// durationType is the type of every duration setting; Load and the tests
// find the duration settings by it.
var durationType = reflect.TypeFor[Duration]()

// parseDuration reads a duration setting. A bare number ("30", "0", "1.5")
// is refused even where Go would take it ("0"): the unit must be written.
func parseDuration(s string) (Duration, error) {
	if isBareNumber(s) {
		return 0, fmt.Errorf("%q has no unit (write a duration such as \"30s\" or \"2m\")", s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (write it like \"60s\" or \"2m\")", s)
	}
	return Duration(v), nil
}

// isBareNumber: an optional sign, digits, at most one '.', nothing else.
func isBareNumber(s string) bool {
	s = strings.TrimLeft(strings.TrimSpace(s), "+-")
	if s == "" || strings.Count(s, ".") > 1 {
		return false
	}
	return strings.Trim(s, "0123456789.") == "" && strings.Trim(s, ".") != ""
}

// UnmarshalText implements encoding.TextUnmarshaler, with parseDuration's
// rules.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(time.Duration(d).String()), nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }
