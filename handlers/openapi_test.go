package handlers

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const openAPIPath = "../docs/openapi.yaml"

// openAPIMethods are the operation keys of an OpenAPI path item; other keys
// (summary, parameters, servers, ...) are not operations.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

type openAPIDoc struct {
	OpenAPI string                          `yaml:"openapi"`
	Paths   map[string]map[string]yaml.Node `yaml:"paths"`
}

func loadOpenAPI(t *testing.T) (openAPIDoc, *yaml.Node) {
	t.Helper()
	b, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatalf("read %s: %v", openAPIPath, err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parse %s: %v", openAPIPath, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatalf("parse %s: %v", openAPIPath, err)
	}
	return doc, &root
}

// routerParam matches a fasthttp/router parameter: {name}, {name?},
// {name:regex} or {name:*}.
var routerParam = regexp.MustCompile(`\{([^{}:?]+)(\?|:[^{}]*)?\}`)

// openAPIPathOf writes a router path the way OpenAPI names it.
func openAPIPathOf(p string) string {
	return routerParam.ReplaceAllString(p, "{$1}")
}

// TestOpenAPIMatchesRouter checks that docs/openapi.yaml documents exactly
// the routes the router serves: every registered method+path has an
// operation, and every operation is registered.
func TestOpenAPIMatchesRouter(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %q; want 3.1.x", doc.OpenAPI)
	}

	// No request is served, so the API's dependencies are never touched.
	// IdentityJWKS set: the JWKS route is registered only with assertions on.
	r := newRouter(&API{IdentityJWKS: []byte(`{"keys":[]}`)})
	routed := map[string]bool{}
	for method, paths := range r.List() {
		for _, p := range paths {
			routed[strings.ToUpper(method)+" "+openAPIPathOf(p)] = true
		}
	}
	if len(routed) == 0 {
		t.Fatal("the router lists no routes")
	}

	documented := map[string]bool{}
	for p, item := range doc.Paths {
		for key := range item {
			if slices.Contains(openAPIMethods, key) {
				documented[strings.ToUpper(key)+" "+p] = true
			} else if slices.Contains(openAPIMethods, strings.ToLower(key)) {
				t.Errorf("%s: method key %q must be lowercase", p, key)
			}
		}
	}

	var missing, extra []string
	for route := range routed {
		if !documented[route] {
			missing = append(missing, route)
		}
	}
	for op := range documented {
		if !routed[op] {
			extra = append(extra, op)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	for _, m := range missing {
		t.Errorf("route %s is registered but not documented in %s", m, openAPIPath)
	}
	for _, e := range extra {
		t.Errorf("operation %s is documented in %s but not registered", e, openAPIPath)
	}
}

// TestOpenAPIDocumentIsConsistent checks what a reader of the document
// relies on: every local $ref resolves, every path template parameter is
// declared, and every operation documents its responses.
func TestOpenAPIDocumentIsConsistent(t *testing.T) {
	doc, root := loadOpenAPI(t)
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		t.Fatalf("%s: want one YAML document", openAPIPath)
	}
	top := root.Content[0]

	// Every "$ref: '#/...'" points at an existing node.
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Value == "$ref" && v.Kind == yaml.ScalarNode {
					if !strings.HasPrefix(v.Value, "#/") {
						t.Errorf("line %d: $ref %q is not local", v.Line, v.Value)
					} else if lookupPointer(top, v.Value) == nil {
						t.Errorf("line %d: $ref %q does not resolve", v.Line, v.Value)
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(top)

	for p, item := range doc.Paths {
		want := map[string]bool{}
		for _, m := range routerParam.FindAllStringSubmatch(p, -1) {
			want[m[1]] = true
		}
		for key, op := range item {
			if !slices.Contains(openAPIMethods, key) {
				continue
			}
			var o struct {
				Parameters []yaml.Node          `yaml:"parameters"`
				Responses  map[string]yaml.Node `yaml:"responses"`
			}
			if err := op.Decode(&o); err != nil {
				t.Errorf("%s %s: %v", key, p, err)
				continue
			}
			if len(o.Responses) == 0 {
				t.Errorf("%s %s: no responses", key, p)
			}
			declared := map[string]bool{}
			for _, pn := range o.Parameters {
				param := &pn
				var ref struct {
					Ref string `yaml:"$ref"`
				}
				if pn.Decode(&ref) == nil && ref.Ref != "" {
					if param = lookupPointer(top, ref.Ref); param == nil {
						continue // reported above
					}
				}
				var pp struct {
					Name     string `yaml:"name"`
					In       string `yaml:"in"`
					Required bool   `yaml:"required"`
				}
				if err := param.Decode(&pp); err != nil {
					t.Errorf("%s %s: parameter: %v", key, p, err)
					continue
				}
				if pp.In == "path" {
					if !pp.Required {
						t.Errorf("%s %s: path parameter %q must be required", key, p, pp.Name)
					}
					declared[pp.Name] = true
				}
			}
			for name := range want {
				if !declared[name] {
					t.Errorf("%s %s: path parameter %q is not declared", key, p, name)
				}
			}
			for name := range declared {
				if !want[name] {
					t.Errorf("%s %s: path parameter %q is not in the path", key, p, name)
				}
			}
		}
	}
}

// lookupPointer resolves a local JSON pointer ("#/a/b") in a YAML mapping tree.
func lookupPointer(n *yaml.Node, ref string) *yaml.Node {
	for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == tok {
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}
