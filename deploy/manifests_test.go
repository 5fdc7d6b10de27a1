package deploy

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zectre/zectre-auth/config"
)

const (
	kubeDir  = "kubernetes"
	baseDir  = "kubernetes/base"
	sidecar  = "zectre-auth" // the container name of zectre-auth in the pod
	httpPort = "http"        // its main port's name
	admPort  = "admin"       // its admin port's name
)

// TestManifestsDecodeStrictly decodes every document under kubernetes/
// into its API type; unknown fields, wrong case, duplicate keys and
// unknown kinds fail.
// shutdownTail is what a stop may take after the drain: up to 5 s to close
// the admin listener and up to 5 s for the last key-use write
// (cmd/zectre-auth/serve.go, docs/operations.md#shutdown).
const shutdownTail = 10 * time.Second

func TestManifestsDecodeStrictly(t *testing.T) {
	ms := loadManifests(t, kubeDir)
	kinds := map[string]int{}
	for _, m := range ms {
		kinds[m.gvk.kind]++
		if o, ok := m.obj.(metav1.Object); ok && o.GetName() == "" {
			t.Errorf("%s: a %s without metadata.name", m.file, m.gvk.kind)
		}
	}
	for _, k := range []string{"Kustomization", "Deployment", "Service", "ConfigMap", "Secret",
		"PodDisruptionBudget", "NetworkPolicy", "Ingress", "Middleware", "IngressRoute"} {
		if kinds[k] == 0 {
			t.Errorf("no %s found under %s: the walker or the manifests are broken", k, kubeDir)
		}
	}
}

// TestStrictDecodingRefusesMistakes shows that the decoder used above does
// refuse what the API server's strict validation refuses.
func TestStrictDecodingRefusesMistakes(t *testing.T) {
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers:
        - name: x
          %s
`
	tests := []struct {
		name string
		doc  string
		ok   bool
	}{
		{"valid", strings.Replace(deployment, "%s", "image: x", 1), true},
		{"unknown field", strings.Replace(deployment, "%s", "image: x\n          imagePullPolicyy: Always", 1), false},
		{"field in the wrong case", strings.Replace(deployment, "%s", "Image: x", 1), false},
		{"duplicate key", strings.Replace(deployment, "%s", "image: x\n          image: y", 1), false},
		{"wrong type", strings.Replace(deployment, "%s", "image: [x]", 1), false},
		{"unknown kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", false},
		{"crd unknown field", "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata: {name: x}\nspec:\n  forwardAuth: {adress: http://x}\n", false},
		{"kustomization unknown field", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ncommonLabel: {a: b}\nresources: []\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeManifest([]byte(tc.doc))
			if tc.ok && err != nil {
				t.Fatalf("refused a valid manifest: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("accepted a broken manifest")
			}
		})
	}
}

// TestKustomizationListsEveryBaseFile: a manifest left out of resources
// would never be applied.
func TestKustomizationListsEveryBaseFile(t *testing.T) {
	k := only[*kustomization](t, loadManifests(t, baseDir))
	entries, err := os.ReadDir(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && isYAML(e.Name()) && e.Name() != "kustomization.yaml" {
			files = append(files, e.Name())
		}
	}
	listed := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(listed, files) {
		t.Errorf("kustomization resources %v, want every manifest of the base: %v", listed, files)
	}
	if k.Namespace == "" {
		t.Error("kustomization sets no namespace; the examples address zectre-auth.<namespace>.svc")
	}
}

// TestPodsAreHardened checks the security settings of every pod template
// and every container in it.
func TestPodsAreHardened(t *testing.T) {
	for _, d := range every[*appsv1.Deployment](loadManifests(t, kubeDir)) {
		spec := d.Spec.Template.Spec
		psc := spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			t.Errorf("%s: pod securityContext.runAsNonRoot is not true", d.Name)
		}
		if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Errorf("%s: pod securityContext.runAsUser must be a non-zero uid", d.Name)
		}
		podSeccomp := psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken must be false: nothing here talks to the API", d.Name)
		}
		if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
			t.Errorf("%s: enableServiceLinks must be false: the Service zectre-auth would inject ZECTRE_AUTH_* variables", d.Name)
		}
		for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			where := d.Name + "/" + c.Name
			checkContainerSecurity(t, where, c.SecurityContext, podSeccomp)
			checkResources(t, where, c.Resources)
			if first, _, _ := strings.Cut(c.Image, "/"); strings.ContainsAny(first, ".:") || !strings.Contains(c.Image, "/") {
				t.Errorf("%s: image %q must be a placeholder name without a registry host", where, c.Image)
			}
		}
	}
}

func checkContainerSecurity(t *testing.T, where string, sc *corev1.SecurityContext, podSeccomp bool) {
	t.Helper()
	if sc == nil {
		t.Errorf("%s: no securityContext", where)
		return
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	if !isTrue(sc.RunAsNonRoot) {
		t.Errorf("%s: runAsNonRoot is not true", where)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Errorf("%s: readOnlyRootFilesystem is not true", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", where)
	}
	if isTrue(sc.Privileged) {
		t.Errorf("%s: privileged", where)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities must drop ALL and add none", where)
	}
	seccomp := sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	if !seccomp && !(sc.SeccompProfile == nil && podSeccomp) {
		t.Errorf("%s: seccompProfile is not RuntimeDefault", where)
	}
}

func checkResources(t *testing.T, where string, r corev1.ResourceRequirements) {
	t.Helper()
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := r.Requests[name]; !ok || q.IsZero() {
			t.Errorf("%s: no %s request", where, name)
		}
	}
	mem, ok := r.Limits[corev1.ResourceMemory]
	if !ok || mem.IsZero() {
		t.Errorf("%s: no memory limit", where)
	} else if req := r.Requests[corev1.ResourceMemory]; req.Cmp(mem) > 0 {
		t.Errorf("%s: memory request %s above its limit %s", where, req.String(), mem.String())
	}
}

// pod is the base's Deployment with its sidecar and the objects around it.
type pod struct {
	ms     []manifest
	d      *appsv1.Deployment
	auth   corev1.Container
	labels labels.Set
}

func loadPod(t *testing.T) pod {
	t.Helper()
	ms := loadManifests(t, baseDir)
	d := only[*appsv1.Deployment](t, ms)
	p := pod{ms: ms, d: d, labels: labels.Set(d.Spec.Template.Labels)}
	i := slices.IndexFunc(d.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return c.Name == sidecar })
	if i < 0 {
		t.Fatalf("deployment %s has no container %q", d.Name, sidecar)
	}
	p.auth = d.Spec.Template.Spec.Containers[i]
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(p.labels) {
		t.Fatalf("deployment selector does not match its pod labels (%v)", err)
	}
	return p
}

// authPort resolves a named or numbered port to one of zectre-auth's
// container ports; ok is false when it is not one of them.
func (p pod) authPort(port intstr.IntOrString) (corev1.ContainerPort, bool) {
	for _, cp := range p.auth.Ports {
		if (port.Type == intstr.String && cp.Name == port.StrVal) || (port.Type == intstr.Int && cp.ContainerPort == port.IntVal) {
			return cp, true
		}
	}
	return corev1.ContainerPort{}, false
}

func (p pod) authPortNumber(t *testing.T, name string) int32 {
	t.Helper()
	cp, ok := p.authPort(intstr.FromString(name))
	if !ok {
		t.Fatalf("container %s has no port named %q", sidecar, name)
	}
	return cp.ContainerPort
}

// TestSidecarWiring checks that traffic can only enter through zectre-auth
// and that the probes, metrics and selectors point where they must.
func TestSidecarWiring(t *testing.T) {
	p := loadPod(t)
	spec := p.d.Spec.Template.Spec

	t.Run("only zectre-auth declares ports", func(t *testing.T) {
		for _, c := range spec.Containers {
			if c.Name != sidecar && len(c.Ports) > 0 {
				t.Errorf("container %s declares ports: only zectre-auth's may be reachable", c.Name)
			}
		}
		if got := p.authPortNumber(t, httpPort); got != 47080 {
			t.Errorf("%s port = %d, want 47080", httpPort, got)
		}
		if got := p.authPortNumber(t, admPort); got != 47090 {
			t.Errorf("%s port = %d, want 47090", admPort, got)
		}
	})

	t.Run("service targets zectre-auth", func(t *testing.T) {
		svc := only[*corev1.Service](t, p.ms)
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(p.labels) || len(svc.Spec.Selector) == 0 {
			t.Errorf("service selector %v does not select the pod", svc.Spec.Selector)
		}
		for _, sp := range svc.Spec.Ports {
			cp, ok := p.authPort(sp.TargetPort)
			if !ok || cp.Name != httpPort {
				t.Errorf("service port %q targets %s, want zectre-auth's %q port", sp.Name, sp.TargetPort.String(), httpPort)
			}
		}
	})

	t.Run("probes", func(t *testing.T) {
		for _, pr := range []struct {
			name  string
			probe *corev1.Probe
			path  string
		}{
			{"startupProbe", p.auth.StartupProbe, "/healthz"},
			{"livenessProbe", p.auth.LivenessProbe, "/healthz"},
			{"readinessProbe", p.auth.ReadinessProbe, "/readyz"},
		} {
			if pr.probe == nil || pr.probe.HTTPGet == nil {
				t.Errorf("%s: missing or not an httpGet probe", pr.name)
				continue
			}
			if pr.probe.HTTPGet.Path != pr.path {
				t.Errorf("%s path = %q, want %q", pr.name, pr.probe.HTTPGet.Path, pr.path)
			}
			if cp, ok := p.authPort(pr.probe.HTTPGet.Port); !ok || cp.Name != httpPort {
				t.Errorf("%s port %s is not zectre-auth's %q port", pr.name, pr.probe.HTTPGet.Port.String(), httpPort)
			}
		}
		// /readyz waits up to 2 s for the database before it answers.
		if r := p.auth.ReadinessProbe; r != nil && r.TimeoutSeconds <= 2 {
			t.Errorf("readinessProbe timeoutSeconds %d must exceed the 2 s /readyz waits for the database", r.TimeoutSeconds)
		}
	})

	t.Run("metrics annotations", func(t *testing.T) {
		a := p.d.Spec.Template.Annotations
		if a["prometheus.io/scrape"] != "true" || a["prometheus.io/path"] != "/metrics" {
			t.Errorf("prometheus annotations %v, want scrape \"true\" and path /metrics", a)
		}
		if a["prometheus.io/port"] != strconv.Itoa(int(p.authPortNumber(t, admPort))) {
			t.Errorf("prometheus.io/port %q is not zectre-auth's admin port", a["prometheus.io/port"])
		}
	})

	t.Run("disruption budget", func(t *testing.T) {
		pdb := only[*policyv1.PodDisruptionBudget](t, p.ms)
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(p.labels) {
			t.Errorf("PodDisruptionBudget selector does not select the pod (%v)", err)
		}
		replicas := int32(1)
		if p.d.Spec.Replicas != nil {
			replicas = *p.d.Spec.Replicas
		}
		if replicas < 2 {
			t.Errorf("replicas = %d: a disruption budget needs at least 2", replicas)
		}
		if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.Type != intstr.Int || mu.IntVal < 1 || mu.IntVal >= replicas {
			t.Errorf("PodDisruptionBudget maxUnavailable must be a count from 1 to replicas-1")
		}
	})

	t.Run("network policy opens only zectre-auth's ports", func(t *testing.T) {
		np := only[*networkingv1.NetworkPolicy](t, p.ms)
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || sel.Empty() || !sel.Matches(p.labels) {
			t.Errorf("NetworkPolicy podSelector does not select the pod (%v)", err)
		}
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			t.Error("NetworkPolicy does not restrict ingress")
		}
		for i, rule := range np.Spec.Ingress {
			if len(rule.Ports) == 0 {
				t.Errorf("ingress rule %d allows every port, the app's included", i)
			}
			for _, port := range rule.Ports {
				if port.Port == nil {
					t.Errorf("ingress rule %d allows every port, the app's included", i)
				} else if _, ok := p.authPort(*port.Port); !ok {
					t.Errorf("ingress rule %d opens port %s, not one of zectre-auth's", i, port.Port.String())
				}
			}
		}
	})

	t.Run("memory limit above GOMEMLIMIT", func(t *testing.T) {
		limit := p.auth.Resources.Limits[corev1.ResourceMemory]
		for _, e := range p.auth.Env {
			if e.Name != "GOMEMLIMIT" {
				continue
			}
			n, err := parseGoMemLimit(e.Value)
			if err != nil {
				t.Fatal(err)
			}
			if n >= limit.Value() {
				t.Errorf("GOMEMLIMIT %s is not below the memory limit %s", e.Value, limit.String())
			}
		}
	})
}

// parseGoMemLimit reads the GOMEMLIMIT forms the manifests use.
func parseGoMemLimit(s string) (int64, error) {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			return n * u.mult, err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// sidecarConfig loads the TOML that the ConfigMap mounts where
// ZECTRE_AUTH_CONFIG points, with the container's environment (literal
// values, and the Secret's for secretKeyRef), as the binary would.
func sidecarConfig(t *testing.T, p pod, secretOverride map[string]string) (config.Config, error) {
	t.Helper()
	env := map[string]string{}
	secret := only[*corev1.Secret](t, p.ms)
	for _, e := range p.auth.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if ref.Name != secret.Name {
				t.Fatalf("env %s reads Secret %q; the base has %q", e.Name, ref.Name, secret.Name)
			}
			v, ok := secret.StringData[ref.Key]
			if !ok {
				t.Fatalf("env %s reads key %q, which Secret %s lacks", e.Name, ref.Key, secret.Name)
			}
			env[e.Name] = v
		default:
			t.Fatalf("env %s: only literal values and secretKeyRef are resolved here", e.Name)
		}
	}
	for k, v := range secretOverride {
		env[k] = v
	}
	path := env[config.EnvConfigPath]
	if path == "" {
		t.Fatalf("container %s does not set %s", sidecar, config.EnvConfigPath)
	}
	text := mountedConfigMapFile(t, p, path)
	file := filepath.Join(t.TempDir(), "zectre-auth.toml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	delete(env, config.EnvConfigPath)
	cfg, err := config.Load(file, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("the ConfigMap's TOML does not load: %v", err)
	}
	return cfg, cfg.Validate()
}

// mountedConfigMapFile finds the ConfigMap key that the container sees at
// path through its volume mounts.
func mountedConfigMapFile(t *testing.T, p pod, path string) string {
	t.Helper()
	for _, m := range p.auth.VolumeMounts {
		rel, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		i := slices.IndexFunc(p.d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if i < 0 || p.d.Spec.Template.Spec.Volumes[i].ConfigMap == nil {
			t.Fatalf("%s is mounted from volume %q, which is not a ConfigMap volume", path, m.Name)
		}
		cm := named[*corev1.ConfigMap](t, p.ms, p.d.Spec.Template.Spec.Volumes[i].ConfigMap.Name)
		text, ok := cm.Data[rel]
		if !ok {
			t.Fatalf("ConfigMap %s has no key %q", cm.Name, rel)
		}
		return text
	}
	t.Fatalf("no volume mount of container %s holds %s", sidecar, path)
	return ""
}

// TestConfigMapConfigValidates loads the sidecar's configuration as the
// binary would. With the Secret's placeholders the start must fail, and
// only over the JWT secret (an unedited Secret must never start); with a
// real secret it validates.
func TestConfigMapConfigValidates(t *testing.T) {
	p := loadPod(t)
	_, err := sidecarConfig(t, p, nil)
	var problems []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		problems = j.Unwrap()
	}
	if len(problems) != 1 {
		t.Fatalf("with the placeholder Secret, Validate = %v; want exactly the JWT secret refused", err)
	}
	var pr *config.Problem
	if !errors.As(problems[0], &pr) || pr.Setting != "ZECTRE_AUTH_JWT_SECRET" {
		t.Fatalf("with the placeholder Secret, Validate = %v; want ZECTRE_AUTH_JWT_SECRET refused", err)
	}

	cfg, err := sidecarConfig(t, p, map[string]string{"ZECTRE_AUTH_JWT_SECRET": strings.Repeat("k", 64)})
	if err != nil {
		t.Fatalf("with a real secret, Validate = %v", err)
	}
	if !cfg.IsPostgres() {
		t.Error("database is not PostgreSQL: replicas cannot share SQLite")
	}
	if replicas := p.d.Spec.Replicas; replicas != nil && *replicas > 1 && cfg.RedisURL == "" {
		t.Error("more than one replica without Redis: revocations would not reach the others")
	}
	if len(cfg.Routes) == 0 {
		t.Error("the ConfigMap has no [[routes]]")
	}
	if got := portOf(t, cfg.Listen); got != p.authPortNumber(t, httpPort) {
		t.Errorf("listen port %d is not the container's %q port", got, httpPort)
	}
	if got := portOf(t, cfg.AdminListen); got != p.authPortNumber(t, admPort) {
		t.Errorf("admin_listen port %d is not the container's %q port", got, admPort)
	}
	if host, _, _ := net.SplitHostPort(cfg.AdminListen); host == "127.0.0.1" || host == "::1" || host == "localhost" {
		t.Error("admin_listen is loopback: Prometheus could not scrape the pod")
	}
	if !strings.HasPrefix(cfg.Upstream, "http://127.0.0.1:") {
		t.Errorf("upstream %q is not the app on loopback in the same pod", cfg.Upstream)
	}

	spec := p.d.Spec.Template.Spec
	drain := cfg.ShutdownDelay.Std() + cfg.ShutdownTimeout.Std() + shutdownTail
	if spec.TerminationGracePeriodSeconds == nil || float64(*spec.TerminationGracePeriodSeconds) <= drain.Seconds() {
		t.Errorf("terminationGracePeriodSeconds must exceed shutdown_delay + shutdown_timeout + %s (%s)", shutdownTail, drain)
	}
	for _, c := range spec.Containers {
		if c.Name == sidecar {
			continue
		}
		pre := c.Lifecycle
		if pre == nil || pre.PreStop == nil || pre.PreStop.Sleep == nil ||
			float64(pre.PreStop.Sleep.Seconds) <= cfg.ShutdownDelay.Std().Seconds() {
			t.Errorf("container %s must sleep in preStop longer than shutdown_delay (%s), so that it serves zectre-auth's last requests",
				c.Name, cfg.ShutdownDelay.Std())
		}
	}
}

func portOf(t *testing.T, hostPort string) int32 {
	t.Helper()
	_, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}
