package deploy

import (
	"os"
	"strconv"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3" // the router's typed_config
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3" // HttpProtocolOptions
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	// Istio's own generated types: only this test uses them, so that the
	// example is checked against what istiod decodes, not a model of it.
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	securityv1beta1 "istio.io/api/security/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/zectre/zectre-auth/config"
)

// decodeProto decodes the YAML file at path into m strictly: duplicate
// keys, unknown fields and an Any of an unknown type are errors.
func decodeProto(t *testing.T, path string, m proto.Message) {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decodeProtoDoc(t, path, doc, m)
}

func decodeProtoDoc(t *testing.T, name string, doc []byte, m proto.Message) {
	t.Helper()
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(j, m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestEnvoyExtAuthzConfig decodes deploy/envoy/envoy.yaml into Envoy's
// bootstrap type as strictly as Envoy does, runs the types' own
// validation, and checks the wiring: an ext_authz filter before the router
// asking a gRPC cluster over HTTP/2 (health checked with the gRPC health
// service) at the port zectre-auth's configuration beside it serves, with
// raw headers and no failing open.
func TestEnvoyExtAuthzConfig(t *testing.T) {
	var b bootstrapv3.Bootstrap
	decodeProto(t, "envoy/envoy.yaml", &b)
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("envoy.yaml does not validate: %v", err)
	}
	clusters := map[string]*clusterv3.Cluster{}
	for _, c := range b.GetStaticResources().GetClusters() {
		clusters[c.GetName()] = c
	}
	cfg, err := config.LoadValid("envoy/zectre-auth.toml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("envoy/zectre-auth.toml: %v", err)
	}
	var filters int
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if err := f.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
					t.Fatalf("%s: %v", f.GetName(), err)
				}
				hf := hcm.GetHttpFilters()
				if len(hf) < 2 || hf[0].GetName() != "envoy.filters.http.ext_authz" || hf[len(hf)-1].GetName() != "envoy.filters.http.router" {
					t.Fatalf("http filters: want ext_authz first and the router last, have %v", hf)
				}
				var ea extauthzv3.ExtAuthz
				if err := hf[0].GetTypedConfig().UnmarshalTo(&ea); err != nil {
					t.Fatal(err)
				}
				filters++
				checkExtAuthzFilter(t, &ea, clusters, cfg.ExtAuthzListen)
			}
		}
	}
	if filters != 1 {
		t.Fatalf("%d ext_authz filters, want 1", filters)
	}
}

func checkExtAuthzFilter(t *testing.T, ea *extauthzv3.ExtAuthz, clusters map[string]*clusterv3.Cluster, listen string) {
	t.Helper()
	g := ea.GetGrpcService().GetEnvoyGrpc()
	switch {
	case g == nil:
		t.Fatal("the ext_authz filter has no envoy_grpc service")
	case ea.GetTransportApiVersion().String() != "V3":
		t.Errorf("transport_api_version %v, want V3", ea.GetTransportApiVersion())
	case ea.GetFailureModeAllow():
		t.Error("failure_mode_allow lets requests through when zectre-auth cannot be asked")
	case !ea.GetEncodeRawHeaders():
		t.Error("encode_raw_headers is off: repeated credential lines would be joined")
	}
	c := clusters[g.GetClusterName()]
	if c == nil {
		t.Fatalf("no cluster %q", g.GetClusterName())
	}
	if !strings.Contains(protojson.Format(c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]), "http2ProtocolOptions") {
		t.Errorf("cluster %s does not speak HTTP/2 (gRPC needs it)", c.GetName())
	}
	if hc := c.GetHealthChecks(); len(hc) == 0 || hc[0].GetGrpcHealthCheck().GetServiceName() != "envoy.service.auth.v3.Authorization" {
		t.Errorf("cluster %s is not health checked with the gRPC health service", c.GetName())
	}
	sa := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if got := sa.GetAddress() + ":" + strconv.FormatUint(uint64(sa.GetPortValue()), 10); got != listen {
		t.Errorf("cluster %s points at %s, zectre-auth's ext_authz_listen is %s", c.GetName(), got, listen)
	}
	if !strings.HasPrefix(listen, "127.0.0.1:") {
		t.Errorf("ext_authz_listen %s: the example has no TLS and binds loopback", listen)
	}
}

// TestEnvoyDecodingIsStrict: the decoding of TestEnvoyExtAuthzConfig
// refuses a misspelt field and a mistyped filter configuration, so that a
// passing test means Envoy would read the file as written.
func TestEnvoyDecodingIsStrict(t *testing.T) {
	doc, err := os.ReadFile("envoy/envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ from, to string }{
		{"encode_raw_headers: true", "encode_raw_header: true"},
		{"ext_authz.v3.ExtAuthz", "ext_authz.v3.ExtAuth"},
	} {
		m := strings.Replace(string(doc), bad.from, bad.to, 1)
		j, err := yaml.YAMLToJSONStrict([]byte(m))
		if err != nil {
			t.Fatal(err)
		}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(j, new(bootstrapv3.Bootstrap)); err == nil {
			t.Errorf("%q for %q decoded", bad.to, bad.from)
		}
	}
}

// TestIstioExtAuthzExample decodes the Istio example strictly into Istio's
// own types: the mesh configuration's extension provider, and the
// AuthorizationPolicy (its spec; the object around it by the Kubernetes
// rules of decodeStrict), which must use that provider with action CUSTOM.
func TestIstioExtAuthzExample(t *testing.T) {
	var mesh meshv1alpha1.MeshConfig
	decodeProto(t, "istio/mesh-config.yaml", &mesh)
	var provider *meshv1alpha1.MeshConfig_ExtensionProvider
	for _, p := range mesh.GetExtensionProviders() {
		if p.GetEnvoyExtAuthzGrpc() != nil {
			provider = p
		}
	}
	if provider == nil {
		t.Fatal("no envoyExtAuthzGrpc provider")
	}
	g := provider.GetEnvoyExtAuthzGrpc()
	if g.GetPort() != 47081 || g.GetFailOpen() || !strings.HasSuffix(g.GetService(), ".svc.cluster.local") {
		t.Errorf("provider %s: %v", provider.GetName(), g)
	}

	doc, err := os.ReadFile("istio/authorization-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Spec map[string]any `json:"spec"`
	}
	if err := decodeStrict(doc, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.APIVersion != "security.istio.io/v1" || obj.Kind != "AuthorizationPolicy" || obj.Metadata.Name == "" || obj.Metadata.Namespace == "" {
		t.Errorf("authorization-policy.yaml: %s %s %+v", obj.APIVersion, obj.Kind, obj.Metadata)
	}
	spec, err := yaml.Marshal(obj.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var ap securityv1beta1.AuthorizationPolicy
	decodeProtoDoc(t, "authorization-policy.yaml spec", spec, &ap)
	if ap.GetAction() != securityv1beta1.AuthorizationPolicy_CUSTOM || ap.GetProvider().GetName() != provider.GetName() {
		t.Errorf("policy: action %v provider %q, want CUSTOM %q", ap.GetAction(), ap.GetProvider().GetName(), provider.GetName())
	}
}
