package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// A Dockerfile reader for what the Dockerfile tests check, written here so
// that the tests need no container build toolkit (BuildKit's parser is one
// module that brings ten more). It reads the syntax as BuildKit does for
// the forms it knows: comments and parser directives, line continuations,
// flags, the exec (JSON) and shell forms, ENV and LABEL pairs. It refuses
// what BuildKit refuses for them: an unknown instruction, an unknown,
// repeated or valueless flag, missing or extra arguments, an instruction
// other than ARG before the first FROM, an invalid stage name. And it
// refuses what BuildKit's parser and instruction lint only warn about,
// since a warning is an error here: an empty continuation line, MAINTAINER,
// a stage name not in lower case, AS not in the case of FROM.
//
// Heredocs and an escape character other than the backslash are refused
// rather than read: a Dockerfile that starts to use them fails here until
// this reader learns them, instead of being misread.

// dockerStage is one FROM and the instructions up to the next.
type dockerStage struct {
	Name     string // after AS, "" when none
	BaseName string // the image FROM names
	Line     int
	Commands []dockerCommand
}

// dockerCommand is one instruction after FROM.
type dockerCommand struct {
	Line  int                 // where the instruction starts
	Name  string              // the instruction in lower case: "run", "copy"
	Flags map[string][]string // --from=build is {"from": {"build"}}; a bare --link is {"link": {""}}
	Args  []string            // the words, the exec form's elements, or the shell form as one string
	Exec  bool                // the arguments were written as a JSON array
	Env   []dockerKeyValue    // ENV and LABEL only
}

type dockerKeyValue struct{ Key, Value string }

// flag returns the value of a flag given once, "" when absent.
func (c dockerCommand) flag(name string) string {
	if v := c.Flags[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

type flagKind int

const (
	flagValue flagKind = iota // --name=value, at most once
	flagList                  // --name=value, any number of times
	flagBool                  // --name or --name=true|false, at most once
)

type argForm int

const (
	formWords       argForm = iota // whitespace-separated words
	formExecOrShell                // a JSON array, else the text as one shell command
	formExecOrWords                // a JSON array, else words
	formExec                       // a JSON array only
	formText                       // the text as one argument
	formPairs                      // name=value pairs, or the legacy "name value"
)

// instructionSpec is what BuildKit accepts for one instruction.
type instructionSpec struct {
	flags   map[string]flagKind
	form    argForm
	minArgs int
	maxArgs int // 0: no limit
}

var dockerInstructions = map[string]instructionSpec{
	"add": {flags: map[string]flagKind{"chown": flagValue, "chmod": flagValue, "checksum": flagValue,
		"link": flagBool, "keep-git-dir": flagBool, "unpack": flagBool, "exclude": flagList}, form: formExecOrWords, minArgs: 2},
	"arg": {form: formWords, minArgs: 1},
	"cmd": {form: formExecOrShell},
	"copy": {flags: map[string]flagKind{"from": flagValue, "chown": flagValue, "chmod": flagValue,
		"link": flagBool, "parents": flagBool, "exclude": flagList}, form: formExecOrWords, minArgs: 2},
	"entrypoint": {form: formExecOrShell},
	"env":        {form: formPairs, minArgs: 1},
	"expose":     {form: formWords, minArgs: 1},
	"from":       {flags: map[string]flagKind{"platform": flagValue}, form: formWords, minArgs: 1, maxArgs: 3},
	"healthcheck": {flags: map[string]flagKind{"interval": flagValue, "timeout": flagValue, "start-period": flagValue,
		"start-interval": flagValue, "retries": flagValue}, form: formText, minArgs: 1},
	"label":      {form: formPairs, minArgs: 1},
	"maintainer": {form: formText, minArgs: 1},
	"onbuild":    {form: formText, minArgs: 1},
	"run": {flags: map[string]flagKind{"mount": flagList, "device": flagList, "network": flagValue, "security": flagValue},
		form: formExecOrShell, minArgs: 1},
	"shell":      {form: formExec, minArgs: 1},
	"stopsignal": {form: formText, minArgs: 1},
	"user":       {form: formText, minArgs: 1},
	"volume":     {form: formExecOrWords, minArgs: 1},
	"workdir":    {form: formText, minArgs: 1},
}

// validStageName is BuildKit's rule for the name after AS (lower-cased).
var validStageName = regexp.MustCompile(`^[a-z][a-z0-9-_.]*$`)

// heredoc is the start of a heredoc as BuildKit finds it in RUN, COPY, ADD.
var heredoc = regexp.MustCompile(`<<-?["']?[A-Za-z_][A-Za-z0-9_]*`)

// directive is a parser directive on one of the first comment lines.
var directive = regexp.MustCompile(`^#\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$`)

// logicalLine is an instruction with its continuation lines joined.
type logicalLine struct {
	line, end int
	text      string
}

// parseDockerfile reads a Dockerfile into its stages. Any lint warning is
// an error, as the tests want.
func parseDockerfile(text string) ([]dockerStage, error) {
	lines, warnings, err := joinLines(text)
	if err != nil {
		return nil, err
	}
	var stages []dockerStage
	for _, l := range lines {
		c, w, err := parseInstruction(l)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", l.line, err)
		}
		warnings = append(warnings, w...)
		switch {
		case c.Name == "from":
			s, err := newStage(c, l.text)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", l.line, err)
			}
			stages = append(stages, s)
		case len(stages) == 0 && c.Name != "arg":
			return nil, fmt.Errorf("line %d: no build stage in current context", l.line)
		case len(stages) > 0:
			stages[len(stages)-1].Commands = append(stages[len(stages)-1].Commands, c)
		}
	}
	if len(warnings) > 0 {
		return nil, fmt.Errorf("lint: %s", strings.Join(warnings, "; "))
	}
	return stages, nil
}

// joinLines drops comments and parser directives and joins continuation
// lines, as BuildKit's parser does (a comment inside a continuation is
// dropped too; the backslash and the newline go, nothing is put between).
func joinLines(text string) ([]logicalLine, []string, error) {
	var out []logicalLine
	var warnings []string
	raw := strings.Split(strings.TrimPrefix(strings.ReplaceAll(text, "\r\n", "\n"), "\ufeff"), "\n")
	directives := true
	for i := 0; i < len(raw); i++ {
		t := strings.TrimSpace(raw[i])
		if strings.HasPrefix(t, "#") {
			if directives {
				if m := directive.FindStringSubmatch(t); m != nil {
					if strings.EqualFold(m[1], "escape") && m[2] != `\` {
						return nil, nil, fmt.Errorf("line %d: escape character %q: only the backslash is read here", i+1, m[2])
					}
					continue
				}
			}
			directives = false
			continue
		}
		directives = false
		if t == "" {
			continue
		}
		l := logicalLine{line: i + 1}
		var b strings.Builder
		emptyContinuation := false
		cur, more := strings.CutSuffix(strings.TrimRight(raw[i], " \t"), `\`)
		b.WriteString(cur)
		for more && i+1 < len(raw) {
			i++
			next := strings.TrimSpace(raw[i])
			switch {
			case strings.HasPrefix(next, "#"):
				continue
			case next == "":
				emptyContinuation = true
				continue
			}
			cur, more = strings.CutSuffix(strings.TrimRight(raw[i], " \t"), `\`)
			b.WriteString(cur)
		}
		l.end, l.text = i+1, b.String()
		if emptyContinuation {
			warnings = append(warnings, fmt.Sprintf("line %d: NoEmptyContinuation: empty continuation line", l.end))
		}
		out = append(out, l)
	}
	return out, warnings, nil
}

// parseInstruction reads one instruction: its name, its flags and its
// arguments in the form the instruction takes.
func parseInstruction(l logicalLine) (dockerCommand, []string, error) {
	word, rest := strings.TrimSpace(l.text), ""
	if i := strings.IndexAny(word, " \t"); i >= 0 {
		word, rest = word[:i], word[i:]
	}
	c := dockerCommand{Line: l.line, Name: strings.ToLower(word), Flags: map[string][]string{}}
	spec, ok := dockerInstructions[c.Name]
	if !ok {
		return c, nil, fmt.Errorf("unknown instruction: %s", word)
	}
	rest, err := parseFlags(&c, spec, strings.TrimSpace(rest))
	if err != nil {
		return c, nil, err
	}
	if (c.Name == "run" || c.Name == "copy" || c.Name == "add") && heredoc.MatchString(rest) {
		return c, nil, fmt.Errorf("%s: heredocs are not read here", word)
	}
	if err := parseArgs(&c, spec, rest); err != nil {
		return c, nil, fmt.Errorf("%s: %w", word, err)
	}
	if n := len(c.Args) + len(c.Env); n < spec.minArgs || (spec.maxArgs > 0 && n > spec.maxArgs) {
		return c, nil, fmt.Errorf("%s requires %s argument(s), got %d", word, argCount(spec), n)
	}
	var warnings []string
	if c.Name == "maintainer" {
		warnings = append(warnings, fmt.Sprintf("line %d: MaintainerDeprecated: use a LABEL instead", l.line))
	}
	if c.Name == "from" && len(c.Args) == 3 {
		as := c.Args[1]
		if name := c.Args[2]; name != strings.ToLower(name) {
			warnings = append(warnings, fmt.Sprintf("line %d: StageNameCasing: stage name %q should be lowercase", l.line, name))
		}
		if fromUpper := word == strings.ToUpper(word); (fromUpper && as != strings.ToUpper(as)) || (!fromUpper && as != strings.ToLower(as)) {
			warnings = append(warnings, fmt.Sprintf("line %d: FromAsCasing: %q and %q keywords' casing do not match", l.line, as, word))
		}
	}
	return c, warnings, nil
}

func argCount(s instructionSpec) string {
	switch {
	case s.maxArgs == 0:
		return fmt.Sprintf("at least %d", s.minArgs)
	case s.minArgs == s.maxArgs:
		return fmt.Sprint(s.minArgs)
	default:
		return fmt.Sprintf("%d to %d", s.minArgs, s.maxArgs)
	}
}

// parseFlags takes the leading --name[=value] words off rest. A flag the
// instruction does not know, a repeated one or one without its value is
// an error, as in BuildKit.
func parseFlags(c *dockerCommand, spec instructionSpec, rest string) (string, error) {
	for strings.HasPrefix(rest, "--") {
		words, err := splitWords(rest, 1)
		if err != nil {
			return "", err
		}
		w := words[0]
		rest = strings.TrimSpace(rest[len(w):])
		if w == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(w, "--"), "=")
		kind, ok := spec.flags[name]
		switch {
		case !ok:
			return "", fmt.Errorf("unknown flag: --%s", name)
		case kind != flagList && len(c.Flags[name]) > 0:
			return "", fmt.Errorf("duplicate flag specified: --%s", name)
		case kind != flagBool && (!hasValue || value == ""):
			return "", fmt.Errorf("missing a value on flag: --%s", name)
		case kind == flagBool && hasValue && value != "true" && value != "false":
			return "", fmt.Errorf("expecting boolean value for flag --%s, not: %s", name, value)
		}
		c.Flags[name] = append(c.Flags[name], unquote(value))
	}
	return rest, nil
}

// parseArgs reads the arguments in the instruction's form.
func parseArgs(c *dockerCommand, spec instructionSpec, rest string) error {
	if rest == "" {
		return nil
	}
	if spec.form == formExec || spec.form == formExecOrShell || spec.form == formExecOrWords {
		var arr []string
		if strings.HasPrefix(rest, "[") && json.Unmarshal([]byte(rest), &arr) == nil {
			c.Args, c.Exec = arr, true
			return nil
		}
	}
	switch spec.form {
	case formExec:
		return errors.New("the arguments must be a JSON array of strings")
	case formExecOrShell, formText:
		c.Args = []string{rest}
	case formWords, formExecOrWords:
		c.Args = strings.Fields(rest)
	case formPairs:
		pairs, err := parsePairs(rest)
		if err != nil {
			return err
		}
		c.Env = pairs
	}
	return nil
}

// parsePairs reads ENV and LABEL: name=value words (quotes keep spaces in
// a value), or the legacy form of one name and the rest as its value.
func parsePairs(rest string) ([]dockerKeyValue, error) {
	words, err := splitWords(rest, -1)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(words[0], "=") {
		return []dockerKeyValue{{words[0], strings.TrimSpace(rest[len(words[0]):])}}, nil
	}
	var out []dockerKeyValue
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return nil, fmt.Errorf("syntax error - can't find = in %q; must be of the form: name=value", w)
		}
		if k == "" {
			return nil, errors.New("names can not be blank")
		}
		out = append(out, dockerKeyValue{k, unquote(v)})
	}
	return out, nil
}

// splitWords splits s at white space outside quotes, keeping the quotes,
// into at most n words (n < 0: all of them); a backslash escapes the next
// character.
func splitWords(s string, n int) ([]string, error) {
	var words []string
	var quote rune
	start, escaped := -1, false
	for i, r := range s {
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == ' ' || r == '\t':
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
				if len(words) == n {
					return words, nil
				}
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unmatched %c in %q", quote, s)
	}
	if start >= 0 {
		words = append(words, s[start:])
	}
	return words, nil
}

// unquote removes one pair of surrounding quotes.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// newStage reads FROM [--platform=...] image [AS name].
func newStage(c dockerCommand, text string) (dockerStage, error) {
	s := dockerStage{BaseName: c.Args[0], Line: c.Line}
	switch len(c.Args) {
	case 1:
	case 3:
		if !strings.EqualFold(c.Args[1], "as") {
			return s, fmt.Errorf("FROM: want AS before the stage name in %q", text)
		}
		s.Name = strings.ToLower(c.Args[2])
		if !validStageName.MatchString(s.Name) {
			return s, fmt.Errorf("invalid name for build stage: %q, name can't start with a number or contain symbols", c.Args[2])
		}
	default:
		return s, fmt.Errorf("FROM requires either one or three arguments: %q", text)
	}
	return s, nil
}

// TestDockerfileReaderForms checks that each form is read as BuildKit
// reads it (the expectations are what BuildKit's instructions hold for
// the same text).
func TestDockerfileReaderForms(t *testing.T) {
	tests := []struct {
		name, text string
		want       dockerCommand
	}{
		{"shell form", "RUN echo hi", dockerCommand{Name: "run", Args: []string{"echo hi"}}},
		{"exec form", `RUN ["a", "b"]`, dockerCommand{Name: "run", Args: []string{"a", "b"}, Exec: true}},
		{"not JSON is the shell form", "RUN [not json", dockerCommand{Name: "run", Args: []string{"[not json"}}},
		{"continuation", "RUN --mount=type=cache,target=/a \\\n  # a comment\n  go build \\\n  -o x",
			dockerCommand{Name: "run", Flags: map[string][]string{"mount": {"type=cache,target=/a"}}, Args: []string{"go build   -o x"}}},
		{"repeatable flag", "RUN --mount=a --mount=b x",
			dockerCommand{Name: "run", Flags: map[string][]string{"mount": {"a", "b"}}, Args: []string{"x"}}},
		{"copy flags", "COPY --from=build --chown=1:1 --link a b c/",
			dockerCommand{Name: "copy", Flags: map[string][]string{"from": {"build"}, "chown": {"1:1"}, "link": {""}}, Args: []string{"a", "b", "c/"}}},
		{"volume words", "VOLUME /a /b", dockerCommand{Name: "volume", Args: []string{"/a", "/b"}}},
		{"volume JSON", `VOLUME ["/c"]`, dockerCommand{Name: "volume", Args: []string{"/c"}, Exec: true}},
		{"env pairs", `ENV A="b c" D=e`, dockerCommand{Name: "env", Env: []dockerKeyValue{{"A", "b c"}, {"D", "e"}}}},
		{"env legacy", "ENV L two words", dockerCommand{Name: "env", Env: []dockerKeyValue{{"L", "two words"}}}},
		{"lower case instruction", "expose 1 2/udp", dockerCommand{Name: "expose", Args: []string{"1", "2/udp"}}},
		{"workdir text", "WORKDIR /x y", dockerCommand{Name: "workdir", Args: []string{"/x y"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := parseDockerfile("FROM scratch\n" + tc.text + "\n")
			if err != nil {
				t.Fatal(err)
			}
			got := st[0].Commands[0]
			tc.want.Line = 2
			if tc.want.Flags == nil {
				tc.want.Flags = map[string][]string{}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestDockerfileReaderRefusesWhatItCannotRead: BuildKit reads these, this
// reader does not, and says so instead of misreading them.
func TestDockerfileReaderRefusesWhatItCannotRead(t *testing.T) {
	for _, text := range []string{
		"FROM scratch\nCOPY <<EOF /x\nhi\nEOF\n",
		"FROM scratch\nRUN <<-'EOT' sh\nhi\nEOT\n",
		"# escape=`\nFROM scratch\n",
	} {
		if _, err := parseDockerfile(text); err == nil {
			t.Errorf("accepted %q", text)
		}
	}
}
