package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

const docsPath = "../docs/config.md"

// settingDocs are the documents that must name every setting: the full
// rules (docs/config.md) and the production reference of the operations
// document.
var settingDocs = []string{docsPath, "../docs/operations.md"}

// TestDocsCoverEverySetting fails when a TOML key or env var of Config is
// missing from docs/config.md or docs/operations.md, so a new setting cannot
// ship undocumented. Names must appear in backticks, as the reference tables
// write them.
func TestDocsCoverEverySetting(t *testing.T) {
	names := []string{EnvConfigPath}
	walkSettings(reflect.TypeOf(Config{}), "", func(key string, f reflect.StructField, _ []int) {
		names = append(names, key)
		if env := f.Tag.Get("env"); env != "" {
			names = append(names, env)
			stringList := f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String
			if f.Type.Kind() != reflect.String && f.Type != durationType && !stringList {
				t.Errorf("%s has env tag %s but Load only sets string, string list and Duration fields from the environment", key, env)
			}
		}
	})
	if len(names) < 20 {
		t.Fatalf("walked only %d names; the walker is broken", len(names))
	}
	for _, path := range settingDocs {
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Error(err)
			continue
		}
		text := string(doc)
		for _, n := range names {
			if !strings.Contains(text, "`"+n+"`") {
				t.Errorf("%s does not document `%s`", path, n)
			}
		}
	}
}

// TestDocsExampleIsValid loads and validates the example file of the docs,
// so the example cannot rot.
func TestDocsExampleIsValid(t *testing.T) {
	doc, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```toml\n")
	if !ok {
		t.Fatal("no ```toml example block")
	}
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("unterminated ```toml block")
	}
	c, err := Load(writeFile(t, example), envOf(nil))
	if err != nil {
		t.Fatalf("example does not load: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("example does not validate: %v", err)
	}
	if len(c.Routes) == 0 || c.Auth.CatalogJWKSURL == "" {
		t.Error("example should show [auth] and [[routes]]")
	}
}
