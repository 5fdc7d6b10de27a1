package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The TOML file is decoded into a shadow of Config: the same struct built
// by reflection, with every Duration field (in sections and [[routes]] too)
// an `any`. The decoder then hands each duration over as the TOML value it
// is, rather than putting a bare number into Duration's integer (30 would
// be 30 ns) or stopping at the first bad one, and fromShadow parses them
// all, reporting every bad one at once. Everything else keeps its type, so
// the decoder's own checks (unknown keys, types) stay as they are.

var anyType = reflect.TypeFor[any]()

// shadowType is t with its Duration fields made `any`, recursively. Only
// exported fields are kept: the decoder sees nothing else anyway.
func shadowType(t reflect.Type) reflect.Type {
	var fields []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		switch {
		case f.Type == durationType:
			f.Type = anyType
		case f.Type.Kind() == reflect.Struct:
			f.Type = shadowType(f.Type)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			f.Type = reflect.SliceOf(shadowType(f.Type.Elem()))
		}
		f.Index, f.Offset = nil, 0
		fields = append(fields, f)
	}
	return reflect.StructOf(fields)
}

// toShadow copies src (a Config or one of its sections) into dst, its
// shadow. Durations stay nil, meaning "not in the file": the default is
// kept unless the file sets one.
func toShadow(dst, src reflect.Value) {
	t := src.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Type == durationType {
			continue
		}
		d, s := dst.FieldByName(f.Name), src.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct:
			toShadow(d, s)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			if s.IsNil() {
				continue
			}
			d.Set(reflect.MakeSlice(d.Type(), s.Len(), s.Len()))
			for j := range s.Len() {
				toShadow(d.Index(j), s.Index(j))
			}
		default:
			d.Set(s)
		}
	}
}

// fromShadow copies the decoded shadow src back into dst and parses the
// durations the file set, appending a Problem for each bad one. prefix is
// the TOML key of the section ("", "auth.", "routes[2]."); where says
// where in the file a key is set, for the message.
func fromShadow(dst, src reflect.Value, prefix string, where func(key string) string, errs *[]error) {
	t := dst.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		d, s := dst.Field(i), src.FieldByName(f.Name)
		switch {
		case f.Type == durationType:
			if s.IsNil() {
				continue
			}
			key := prefix + name
			v, err := durationValue(s.Interface())
			if err != nil {
				*errs = append(*errs, &Problem{Setting: key, Message: err.Error() + " (" + where(key) + ")"})
				continue
			}
			d.Set(reflect.ValueOf(v))
		case f.Type.Kind() == reflect.Struct:
			fromShadow(d, s, prefix+name+".", where, errs)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			if s.IsNil() {
				d.Set(reflect.Zero(d.Type()))
				continue
			}
			d.Set(reflect.MakeSlice(d.Type(), s.Len(), s.Len()))
			for j := range s.Len() {
				fromShadow(d.Index(j), s.Index(j), fmt.Sprintf("%s%s[%d].", prefix, name, j), where, errs)
			}
		default:
			d.Set(s)
		}
	}
}

// durationValue reads a duration from the value the TOML decoder produced:
// only a string is a duration; a number has no unit.
func durationValue(raw any) (Duration, error) {
	switch v := raw.(type) {
	case string:
		return parseDuration(v)
	case int64:
		return 0, fmt.Errorf("the number %d has no unit (write a duration string such as \"%ds\" or \"2m\")", v, v)
	case float64:
		n := strconv.FormatFloat(v, 'g', -1, 64)
		return 0, fmt.Errorf("the number %s has no unit (write a duration string such as \"%ss\")", n, n)
	}
	return 0, fmt.Errorf("want a duration string such as \"30s\", got a TOML %s", tomlKind(raw))
}

// tomlKind names the kind of a value go-toml decoded into an `any`.
func tomlKind(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case map[string]any:
		return "table"
	case []any:
		return "array"
	case time.Time:
		return "date-time"
	}
	return "date or time"
}

var (
	tableHeader = regexp.MustCompile(`^\[\s*([A-Za-z0-9_.-]+)\s*\]`)
	arrayHeader = regexp.MustCompile(`^\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]`)
	keyAssign   = regexp.MustCompile(`^([A-Za-z0-9_-]+)\s*=`)
)

// keyLine finds the line of data that sets key ("read_timeout",
// "auth.x", "routes[2].x"), or 0. It follows [table] and [[table]]
// headers and bare keys only: a message without a line is still a message.
func keyLine(data []byte, key string) int {
	section, leaf := "", key
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		section, leaf = key[:i], key[i+1:]
	}
	current, counts := "", map[string]int{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if m := arrayHeader.FindStringSubmatch(line); m != nil {
			current = fmt.Sprintf("%s[%d]", m[1], counts[m[1]])
			counts[m[1]]++
			continue
		}
		if m := tableHeader.FindStringSubmatch(line); m != nil {
			current = m[1]
			continue
		}
		if m := keyAssign.FindStringSubmatch(line); m != nil && m[1] == leaf && current == section {
			return n + 1
		}
	}
	return 0
}
