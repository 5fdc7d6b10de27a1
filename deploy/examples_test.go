package deploy

import (
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/zectre/zectre-auth/proxy"
)

const examplesDir = "kubernetes/examples"

// identityHeaders are the headers an ingress must copy from the verify
// answer.
var identityHeaders = []string{
	proxy.HeaderUserID, proxy.HeaderUserEmail, proxy.HeaderUserAdmin,
	proxy.HeaderAuthMethod, proxy.HeaderAPIKeyID, proxy.HeaderScopes,
}

// verifyTarget checks that a forward-auth URL reaches the base's Service
// (<service>.<namespace>.svc[.cluster.local]:<port>) at the verify path.
func verifyTarget(t *testing.T, what, raw string) {
	t.Helper()
	base := loadManifests(t, baseDir)
	svc := only[*corev1.Service](t, base)
	ns := only[*kustomization](t, base).Namespace
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	labels := strings.Split(u.Hostname(), ".")
	if len(labels) < 3 || labels[0] != svc.Name || labels[1] != ns || labels[2] != "svc" {
		t.Errorf("%s host %q is not the Service %s in namespace %s", what, u.Hostname(), svc.Name, ns)
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return u.Port() == strconv.Itoa(int(p.Port)) }) {
		t.Errorf("%s port %q is not a port of Service %s", what, u.Port(), svc.Name)
	}
	if u.Path != proxy.VerifyPath || u.RawQuery != "" {
		t.Errorf("%s path %q, want %s", what, u.Path, proxy.VerifyPath)
	}
}

// spellings are the ways a client may write an identity header name that
// some upstream framework folds into the real one.
func spellings(h string) []string {
	return []string{h, strings.ToLower(h), strings.ToUpper(h),
		strings.ReplaceAll(h, "-", "_"), strings.ReplaceAll(h, "-", ".")}
}

func TestTraefikExample(t *testing.T) {
	ms := loadManifests(t, examplesDir+"/traefik")
	mw := only[*traefikMiddleware](t, ms)
	fa := mw.Spec.ForwardAuth
	if fa == nil {
		t.Fatal("the Middleware has no forwardAuth")
	}
	verifyTarget(t, "forwardAuth.address", fa.Address)
	for _, h := range []string{"Authorization", "X-API-Key"} {
		if !slices.Contains(fa.AuthRequestHeaders, h) {
			t.Errorf("authRequestHeaders lacks %s: zectre-auth would never see the credential", h)
		}
	}
	// Traefik removes the request headers the expression matches before it
	// copies the answer's: it must catch every spelling a client may forge.
	re, err := regexp.Compile(fa.AuthResponseHeadersRegex)
	if err != nil {
		t.Fatalf("authResponseHeadersRegex: %v", err)
	}
	for _, h := range identityHeaders {
		for _, s := range spellings(h) {
			if !re.MatchString(s) {
				t.Errorf("authResponseHeadersRegex does not match %s", s)
			}
		}
	}
	for _, h := range []string{"Authorization", "X-API-Key", "Set-Cookie", "X-Zectreish"} {
		if re.MatchString(h) {
			t.Errorf("authResponseHeadersRegex matches %s", h)
		}
	}

	ir := only[*traefikIngressRoute](t, ms)
	guarded := false
	for _, r := range ir.Spec.Routes {
		for _, m := range r.Middlewares {
			if m.Name != mw.Name {
				t.Errorf("route %q uses middleware %q, which the example does not define", r.Match, m.Name)
			}
			guarded = true
		}
		for _, s := range r.Services {
			if s.Name == only[*corev1.Service](t, loadManifests(t, baseDir)).Name {
				verifyServicePort(t, "IngressRoute "+r.Match, s.Port.IntVal)
			}
		}
	}
	if !guarded {
		t.Error("no route of the IngressRoute uses the forward-auth middleware")
	}
}

// TestTraefikExampleMatchesDocs keeps the example and the recipe of
// docs/edge.md the same.
func TestTraefikExampleMatchesDocs(t *testing.T) {
	doc, err := os.ReadFile("../docs/edge.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "### Traefik")
	if !ok {
		t.Fatal("docs/edge.md has no Traefik section")
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/edge.md's Traefik section has no yaml block")
	}
	var fromDocs traefikMiddleware
	if err := decodeStrict([]byte(block), &fromDocs); err != nil {
		t.Fatalf("docs/edge.md's Middleware does not decode strictly: %v", err)
	}
	ours := only[*traefikMiddleware](t, loadManifests(t, examplesDir+"/traefik"))
	if eq, a, b := jsonEqual(ours.Spec, fromDocs.Spec); !eq {
		t.Errorf("the example's Middleware differs from docs/edge.md:\nexample: %s\ndocs:    %s", a, b)
	}
}

func verifyServicePort(t *testing.T, what string, port int32) {
	t.Helper()
	svc := only[*corev1.Service](t, loadManifests(t, baseDir))
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == port }) {
		t.Errorf("%s sends to port %d, not a port of Service %s", what, port, svc.Name)
	}
}

func TestIngressNginxExample(t *testing.T) {
	ms := loadManifests(t, examplesDir+"/ingress-nginx")
	const prefix = "nginx.ingress.kubernetes.io/"
	var guarded []*networkingv1.Ingress
	svcName := only[*corev1.Service](t, loadManifests(t, baseDir)).Name
	for _, ing := range every[*networkingv1.Ingress](ms) {
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				if s := p.Backend.Service; s != nil && s.Name == svcName {
					verifyServicePort(t, "Ingress "+ing.Name, s.Port.Number)
				}
			}
		}
		if _, ok := ing.Annotations[prefix+"auth-url"]; ok {
			guarded = append(guarded, ing)
		}
	}
	if len(guarded) == 0 {
		t.Fatal("no Ingress uses auth-url")
	}
	for _, ing := range guarded {
		a := ing.Annotations
		verifyTarget(t, ing.Name+" auth-url", a[prefix+"auth-url"])

		var copied []string
		for _, h := range strings.Split(a[prefix+"auth-response-headers"], ",") {
			copied = append(copied, strings.TrimSpace(h))
		}
		if !slices.Equal(slices.Sorted(slices.Values(copied)), slices.Sorted(slices.Values(identityHeaders))) {
			t.Errorf("%s auth-response-headers %v, want the identity headers %v", ing.Name, copied, identityHeaders)
		}

		// The verify request must carry the real URI, and no client-sent
		// X-Forwarded-Uri/-Method, which zectre-auth would read first.
		ref := a[prefix+"auth-proxy-set-headers"]
		ns, name, ok := strings.Cut(ref, "/")
		if !ok || ns != ing.Namespace {
			t.Fatalf("%s auth-proxy-set-headers %q, want %s/<ConfigMap>", ing.Name, ref, ing.Namespace)
		}
		cm := named[*corev1.ConfigMap](t, ms, name)
		want := map[string]string{
			proxy.HeaderOriginalURI:     "$request_uri",
			proxy.HeaderForwardedURI:    "",
			proxy.HeaderForwardedMethod: "",
		}
		for h, v := range want {
			got, ok := lookupFold(cm.Data, h)
			if !ok || got != v {
				t.Errorf("ConfigMap %s: %s = %q (set: %v), want %q", cm.Name, h, got, ok, v)
			}
		}
	}
}

// lookupFold finds a header in a map whatever the case of its name.
func lookupFold(m map[string]string, name string) (string, bool) {
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}
