package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// decodeStrict decodes one YAML document into v the way the API server's
// strict field validation does: duplicate keys, unknown fields and fields
// whose case differs from the API's (Image for image) are errors. Plain
// encoding/json would accept the last two silently.
func decodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(j, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// gvk names an object type as a manifest does.
type gvk struct{ apiVersion, kind string }

// typed maps every kind the manifests may use to its Go type: the
// Kubernetes API types, and local structs for the CRDs and kustomize with
// the fields the manifests use. A kind missing here fails the test, so a
// new manifest cannot go unchecked.
//
// The API types (k8s.io/api, the heaviest test dependency) are kept on
// purpose: they are the schema the API server applies, so a field name or
// type is checked against Kubernetes itself. Local structs would check the
// manifests against a copy written from the manifests, where a misspelt
// field copied into both passes; they would also have to re-implement
// resource quantities and label selectors, which the tests compare. The
// CRDs and kustomize have no such module light enough, hence their
// structs.
var typed = map[gvk]func() any{
	{"apps/v1", "Deployment"}:                            func() any { return new(appsv1.Deployment) },
	{"v1", "Service"}:                                    func() any { return new(corev1.Service) },
	{"v1", "ConfigMap"}:                                  func() any { return new(corev1.ConfigMap) },
	{"v1", "Secret"}:                                     func() any { return new(corev1.Secret) },
	{"policy/v1", "PodDisruptionBudget"}:                 func() any { return new(policyv1.PodDisruptionBudget) },
	{"networking.k8s.io/v1", "Ingress"}:                  func() any { return new(networkingv1.Ingress) },
	{"networking.k8s.io/v1", "NetworkPolicy"}:            func() any { return new(networkingv1.NetworkPolicy) },
	{"traefik.io/v1alpha1", "Middleware"}:                func() any { return new(traefikMiddleware) },
	{"traefik.io/v1alpha1", "IngressRoute"}:              func() any { return new(traefikIngressRoute) },
	{"kustomize.config.k8s.io/v1beta1", "Kustomization"}: func() any { return new(kustomization) },
}

// traefikMiddleware is Traefik's Middleware CRD, forwardAuth only.
type traefikMiddleware struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ForwardAuth *traefikForwardAuth `json:"forwardAuth,omitempty"`
	} `json:"spec"`
}

type traefikForwardAuth struct {
	Address                  string   `json:"address"`
	TrustForwardHeader       bool     `json:"trustForwardHeader,omitempty"`
	AuthRequestHeaders       []string `json:"authRequestHeaders,omitempty"`
	AuthResponseHeaders      []string `json:"authResponseHeaders,omitempty"`
	AuthResponseHeadersRegex string   `json:"authResponseHeadersRegex,omitempty"`
}

// traefikIngressRoute is Traefik's IngressRoute CRD, HTTP routes only.
type traefikIngressRoute struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		EntryPoints []string `json:"entryPoints,omitempty"`
		Routes      []struct {
			Match       string `json:"match"`
			Kind        string `json:"kind"`
			Middlewares []struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace,omitempty"`
			} `json:"middlewares,omitempty"`
			Services []struct {
				Name      string             `json:"name"`
				Namespace string             `json:"namespace,omitempty"`
				Port      intstr.IntOrString `json:"port"`
			} `json:"services"`
		} `json:"routes"`
		TLS *struct {
			SecretName string `json:"secretName,omitempty"`
		} `json:"tls,omitempty"`
	} `json:"spec"`
}

// kustomization is kustomize's file, with the fields the base uses.
type kustomization struct {
	metav1.TypeMeta `json:",inline"`
	Namespace       string           `json:"namespace,omitempty"`
	Resources       []string         `json:"resources"`
	Images          []kustomizeImage `json:"images,omitempty"`
}

// kustomizeImage is one entry of images: it replaces the image called Name
// in the manifests.
type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// manifest is one decoded YAML document and where it came from.
type manifest struct {
	file string // relative to deploy/
	gvk  gvk
	obj  any
}

// docSeparator is a YAML document start marker on a line of its own.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// splitDocuments splits a multi-document YAML file, dropping documents
// that hold only comments or blank lines.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range docSeparator.Split(string(data), -1) {
		if hasContent(d) {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func hasContent(doc string) bool {
	for _, l := range strings.Split(doc, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			return true
		}
	}
	return false
}

// decodeManifest decodes one document into the type its apiVersion and
// kind name.
func decodeManifest(doc []byte) (gvk, any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return gvk{}, nil, err
	}
	k := gvk{tm.APIVersion, tm.Kind}
	newObj, ok := typed[k]
	if !ok {
		return k, nil, fmt.Errorf("no typed decoder for apiVersion %q kind %q: add one to typed", k.apiVersion, k.kind)
	}
	obj := newObj()
	if err := decodeStrict(doc, obj); err != nil {
		return k, nil, fmt.Errorf("%s %s: %w", k.apiVersion, k.kind, err)
	}
	return k, obj, nil
}

// loadManifests decodes every document of every YAML file under dir
// (relative to deploy/), failing the test on the first that does not
// decode strictly.
func loadManifests(t *testing.T, dir string) []manifest {
	t.Helper()
	var out []manifest
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isYAML(path) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, doc := range splitDocuments(data) {
			k, obj, err := decodeManifest(doc)
			if err != nil {
				return fmt.Errorf("%s, document %d: %w", path, i+1, err)
			}
			out = append(out, manifest{file: filepath.ToSlash(path), gvk: k, obj: obj})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func isYAML(path string) bool {
	return strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")
}

// only returns the single object of type T among ms, failing the test when
// there is not exactly one.
func only[T any](t *testing.T, ms []manifest) T {
	t.Helper()
	all := every[T](ms)
	if len(all) != 1 {
		var zero T
		t.Fatalf("want exactly one %T, found %d", zero, len(all))
	}
	return all[0]
}

// every returns the objects of type T among ms, in file order.
func every[T any](ms []manifest) []T {
	var out []T
	for _, m := range ms {
		if v, ok := m.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// named returns the object of type T called name.
func named[T interface{ GetName() string }](t *testing.T, ms []manifest, name string) T {
	t.Helper()
	for _, v := range every[T](ms) {
		if v.GetName() == name {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T named %q", zero, name)
	return zero
}

// jsonEqual compares two values by their JSON form, for error messages
// that show both sides.
func jsonEqual(a, b any) (bool, string, string) {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb), string(ja), string(jb)
}
