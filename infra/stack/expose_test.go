package stack_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/outputs"
)

func TestAntaeusIsExposedTheWayTheStackSays(t *testing.T) {
	controller := map[string]any{namespaceNameLabel: "ingress-nginx"}
	for _, tc := range []struct {
		name            string
		expose          map[string]any
		wantServiceType string
		wantIngress     bool
		wantRoute       bool
		// Annotations of the Ingress and of the Antaeus Service; no other
		// object carries any.
		wantAnnotations        map[string]string
		wantServiceAnnotations map[string]string
		wantURL                string
	}{
		{
			name: "an ingress without TLS serves http on its host",
			expose: map[string]any{"mode": "ingress", "ingress": map[string]any{
				"className": "nginx", "host": "antaeus.example.com", "controllerNamespaceLabels": controller,
			}},
			wantServiceType: "ClusterIP", wantIngress: true, wantURL: "http://antaeus.example.com",
		},
		{
			name: "an ingress with a cert-manager issuer serves https and asks cert-manager for the certificate",
			expose: map[string]any{"mode": "ingress", "ingress": map[string]any{
				"host": "antaeus.example.com", "tlsSecretName": "antaeus-tls", "certManagerClusterIssuer": "letsencrypt",
				"controllerNamespaceLabels": controller,
			}},
			wantServiceType: "ClusterIP", wantIngress: true, wantURL: "https://antaeus.example.com",
			wantAnnotations: map[string]string{"cert-manager.io/cluster-issuer": "letsencrypt"},
		},
		{
			name: "skipAwait marks the Ingress, and only the Ingress, for clusters without a controller",
			expose: map[string]any{"mode": "ingress", "skipAwait": true, "ingress": map[string]any{
				"host": "antaeus.example.com", "controllerNamespaceLabels": controller,
			}},
			wantServiceType: "ClusterIP", wantIngress: true, wantURL: "http://antaeus.example.com",
			wantAnnotations: map[string]string{"pulumi.com/skipAwait": "true"},
		},
		{
			name:            "a load balancer has no address until the cloud gives it one",
			expose:          map[string]any{"mode": "loadBalancer"},
			wantServiceType: "LoadBalancer", wantURL: "",
		},
		{
			name:            "skipAwait marks the LoadBalancer Service, for clusters without a load balancer controller",
			expose:          map[string]any{"mode": "loadBalancer", "skipAwait": true},
			wantServiceType: "LoadBalancer", wantURL: "",
			wantServiceAnnotations: map[string]string{"pulumi.com/skipAwait": "true"},
		},
		{
			name: "a gateway route serves its host over http, or https when the listener terminates TLS",
			expose: map[string]any{"mode": "gateway", "gateway": map[string]any{
				"name": "public", "namespace": "gateway-system", "host": "antaeus.example.com", "https": true,
				"dataPlaneNamespaceLabels": map[string]any{namespaceNameLabel: "gateway-system"},
			}},
			wantServiceType: "ClusterIP", wantRoute: true, wantURL: "https://antaeus.example.com",
		},
		{
			name: "skipAwait changes nothing where nothing waits for an address",
			expose: map[string]any{"mode": "gateway", "skipAwait": true, "gateway": map[string]any{
				"name": "public", "namespace": "gateway-system", "host": "antaeus.example.com",
				"dataPlaneCIDRs": []string{"172.18.0.0/16"},
			}},
			wantServiceType: "ClusterIP", wantRoute: true, wantURL: "http://antaeus.example.com",
		},
		{
			name:            "a node port is reached on any node's address",
			expose:          map[string]any{"mode": "nodePort", "nodePort": 30080},
			wantServiceType: "NodePort", wantURL: "http://<node-address>:30080",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := deployDevExposedAs(t, tc.expose)
			m := manifestsOf(t, d)
			antaeus := m.deploymentOf(t, config.ServiceAntaeus)
			for _, svc := range m.services {
				if svc.Namespace == antaeus.Namespace && string(svc.Spec.Type) != tc.wantServiceType {
					t.Errorf("Antaeus Service type %q, want %q", svc.Spec.Type, tc.wantServiceType)
				}
				if svc.Namespace == antaeus.Namespace && !equalJSON(t, svc.Annotations, tc.wantServiceAnnotations) {
					t.Errorf("Antaeus Service annotations %v, want %v", svc.Annotations, tc.wantServiceAnnotations)
				}
				if svc.Namespace != antaeus.Namespace && svc.Spec.Type != "ClusterIP" {
					t.Errorf("payments Service type %q: payments must never be exposed", svc.Spec.Type)
				}
			}
			if got := len(m.routes) == 1; got != tc.wantRoute {
				t.Fatalf("%d HTTPRoutes, want a route %v", len(m.routes), tc.wantRoute)
			}
			if got := len(m.ingresses) == 1; got != tc.wantIngress {
				t.Fatalf("%d Ingresses, want ingress %v", len(m.ingresses), tc.wantIngress)
			}
			if tc.wantIngress {
				ing := m.ingresses[0]
				if !equalJSON(t, ing.Annotations, tc.wantAnnotations) {
					t.Errorf("Ingress annotations %v, want %v", ing.Annotations, tc.wantAnnotations)
				}
				backend := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
				if backend.Name != antaeus.Name || backend.Port.Name != "http" {
					t.Errorf("Ingress sends traffic to %s:%s, want the Antaeus Service's http port", backend.Name, backend.Port.Name)
				}
			}
			for _, r := range d.declared.resources {
				if r.typ == typeIngress || (r.typ == typeService && r.name == antaeus.Name) {
					continue
				}
				if meta := r.inputs["metadata"]; meta.IsObject() && meta.ObjectValue().HasValue("annotations") {
					t.Errorf("%s %s carries annotations; only the Ingress and Antaeus's Service may", r.typ, r.name)
				}
			}
			if got := d.outputs[outputs.AntaeusURL]; got != tc.wantURL {
				t.Errorf("antaeusUrl %q, want %q", got, tc.wantURL)
			}
		})
	}
}

func TestAGatewayRouteSendsTheHostToAntaeusThroughTheNamedGateway(t *testing.T) {
	for _, tc := range []struct {
		name        string
		sectionName string
	}{
		{"without a section the route attaches to every listener that admits it", ""},
		{"with a section the route attaches to that listener only", "https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gateway := map[string]any{
				"name": "public", "namespace": "gateway-system", "host": "antaeus.example.com",
				"dataPlaneNamespaceLabels": map[string]any{namespaceNameLabel: "gateway-system"},
			}
			if tc.sectionName != "" {
				gateway["sectionName"] = tc.sectionName
			}
			m := manifestsOf(t, deployDevExposedAs(t, map[string]any{"mode": "gateway", "gateway": gateway}))
			antaeus := m.deploymentOf(t, config.ServiceAntaeus)
			if len(m.routes) != 1 {
				t.Fatalf("%d HTTPRoutes, want 1", len(m.routes))
			}
			route := m.routes[0]
			if route.APIVersion != "gateway.networking.k8s.io/v1" || route.Kind != "HTTPRoute" || route.Namespace != antaeus.Namespace {
				t.Errorf("route is %s %s in %q, want a gateway.networking.k8s.io/v1 HTTPRoute in Antaeus's namespace %s", route.APIVersion, route.Kind, route.Namespace, antaeus.Namespace)
			}
			parents := route.Spec.ParentRefs
			if len(parents) != 1 || parents[0].Name != "public" || parents[0].Namespace == nil || *parents[0].Namespace != "gateway-system" {
				t.Fatalf("route attaches to %+v, want the Gateway gateway-system/public", parents)
			}
			if section := parents[0].SectionName; (section == nil) != (tc.sectionName == "") || (section != nil && string(*section) != tc.sectionName) {
				t.Errorf("route's sectionName %v, want %q", section, tc.sectionName)
			}
			if len(route.Spec.Hostnames) != 1 || route.Spec.Hostnames[0] != "antaeus.example.com" {
				t.Errorf("route hostnames %v, want antaeus.example.com", route.Spec.Hostnames)
			}
			var service corev1.Service
			for _, svc := range m.services {
				if svc.Namespace == antaeus.Namespace {
					service = svc
				}
			}
			if len(route.Spec.Rules) != 1 || len(route.Spec.Rules[0].BackendRefs) != 1 {
				t.Fatalf("route rules %+v, want one rule with one backend", route.Spec.Rules)
			}
			backend := route.Spec.Rules[0].BackendRefs[0]
			if string(backend.Name) != service.Name || backend.Port == nil || int32(*backend.Port) != service.Spec.Ports[0].Port {
				t.Errorf("route sends traffic to %s:%v, want Antaeus's Service %s:%d", backend.Name, backend.Port, service.Name, service.Spec.Ports[0].Port)
			}
		})
	}
}

func TestAnAuthTokenReachesPaymentsOnlyThroughASecret(t *testing.T) {
	const token = "t0ken"
	cfg := committedConfig(t, "dev").with(t, config.KeyPayments, []string{"authToken"}, token)
	d, err := deploy(t, "dev", cfg, config.KeyPayments)
	if err != nil {
		t.Fatal(err)
	}
	secrets := d.ofType(typeSecret)
	if len(secrets) != 1 {
		t.Fatalf("%d Secrets, want 1", len(secrets))
	}
	data := secrets[0].inputs["stringData"]
	if !data.IsSecret() || data.SecretValue().Element.ObjectValue()["token"].StringValue() != token {
		t.Errorf("the Secret holds %v, want the token marked secret", data)
	}
	m := manifestsOf(t, d)
	c := m.deploymentOf(t, config.ServicePayments).Spec.Template.Spec.Containers[0]
	for _, e := range c.Env {
		if e.Name != "PAYMENTS_AUTH_TOKEN" {
			continue
		}
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != m.secrets[0].Name {
			t.Errorf("PAYMENTS_AUTH_TOKEN is %+v, want a reference to Secret %s", e, m.secrets[0].Name)
		}
		return
	}
	t.Error("payments gets no PAYMENTS_AUTH_TOKEN")
}

// deployDevExposedAs runs the dev stack with tinjis:expose replaced.
func deployDevExposedAs(t *testing.T, expose map[string]any) deployment {
	t.Helper()
	d, err := deploy(t, "dev", committedConfig(t, "dev").with(t, config.KeyExpose, nil, mustJSON(t, expose)))
	if err != nil {
		t.Fatal(err)
	}
	return d
}
