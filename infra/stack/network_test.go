package stack_test

import (
	"slices"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tinjis/tinjis/infra/config"
)

// namespaceNameLabel is set on every namespace by the API server.
const namespaceNameLabel = "kubernetes.io/metadata.name"

func TestEveryNamespaceDeniesAllTrafficByDefault(t *testing.T) {
	for _, m := range committedManifests(t) {
		for _, ns := range m.namespaces {
			var denies bool
			for _, p := range m.policies {
				if p.Namespace == ns.Name && len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.PodSelector.MatchExpressions) == 0 &&
					len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0 &&
					slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
					denies = true
				}
			}
			if !denies {
				t.Errorf("stack %s: namespace %s has no default-deny policy for ingress and egress", m.stack, ns.Name)
			}
		}
	}
}

func TestEveryPolicySelectsTheDeploymentsItIsWrittenFor(t *testing.T) {
	for _, m := range committedManifests(t) {
		for _, p := range m.policies {
			if len(p.Spec.PodSelector.MatchLabels) == 0 {
				continue // the namespace's default deny
			}
			selected := m.deploymentsSelectedBy(t, p.Namespace, p.Spec.PodSelector)
			if len(selected) != 1 {
				t.Errorf("stack %s: policy %s/%s selects the pods of %d Deployments, want 1", m.stack, p.Namespace, p.Name, len(selected))
				continue
			}
			for _, rule := range p.Spec.Ingress {
				checkPortsOpen(t, m.stack, p, rule.Ports, containerPorts(selected[0]))
			}
			for _, rule := range p.Spec.Egress {
				for _, peer := range rule.To {
					if peer.NamespaceSelector == nil || peer.PodSelector == nil {
						continue
					}
					namespace, ours := peerNamespace(m, peer)
					if !ours {
						continue // a namespace the stack does not own: DNS
					}
					targets := m.deploymentsSelectedBy(t, namespace, *peer.PodSelector)
					if len(targets) != 1 {
						t.Errorf("stack %s: policy %s/%s lets traffic out to %d Deployments of %s, want 1", m.stack, p.Namespace, p.Name, len(targets), namespace)
						continue
					}
					checkPortsOpen(t, m.stack, p, rule.Ports, containerPorts(targets[0]))
				}
			}
		}
	}
}

// peerNamespace is the stack's namespace a peer selects by name.
func peerNamespace(m manifests, peer networkingv1.NetworkPolicyPeer) (string, bool) {
	name := peer.NamespaceSelector.MatchLabels[namespaceNameLabel]
	_, ours := m.namespace(name)
	return name, ours
}

// checkPortsOpen fails unless every port a rule opens is a port the pods
// listen on.
func checkPortsOpen(t *testing.T, stack string, p networkingv1.NetworkPolicy, ports []networkingv1.NetworkPolicyPort, listening map[int32]string) {
	t.Helper()
	if len(ports) == 0 {
		t.Errorf("stack %s: policy %s/%s opens every port", stack, p.Namespace, p.Name)
	}
	for _, port := range ports {
		if _, ok := listening[port.Port.IntVal]; !ok {
			t.Errorf("stack %s: policy %s/%s opens port %s, which no container listens on", stack, p.Namespace, p.Name, port.Port.String())
		}
	}
}

func TestOnlyAntaeusOfTheSameStackReachesPayments(t *testing.T) {
	for _, m := range committedManifests(t) {
		t.Run(m.stack, func(t *testing.T) {
			payments := m.deploymentOf(t, config.ServicePayments)
			antaeus := m.deploymentOf(t, config.ServiceAntaeus)
			for _, p := range m.policies {
				if p.Namespace != payments.Namespace || len(p.Spec.PodSelector.MatchLabels) == 0 {
					continue
				}
				if len(p.Spec.Egress) > 0 || !slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
					t.Errorf("policy %s lets payments call out: %+v", p.Name, p.Spec.Egress)
				}
				http := portNamed(t, payments, "http")
				rules := rulesOpening(p.Spec.Ingress, http)
				if len(rules) != 1 || len(rules[0].From) != 1 {
					t.Fatalf("policy %s admits %+v on port %d, want one rule with one peer: Antaeus", p.Name, rules, http)
				}
				rule := rules[0]
				peer := rule.From[0]
				if peer.NamespaceSelector == nil || peer.PodSelector == nil || peer.IPBlock != nil {
					t.Fatalf("peer %+v must select both a namespace and pods", peer)
				}
				if got := peer.NamespaceSelector.MatchLabels; len(got) != 1 || got[namespaceNameLabel] != antaeus.Namespace {
					t.Errorf("peer namespace selector %v, want only %s=%s", got, namespaceNameLabel, antaeus.Namespace)
				}
				if got := m.deploymentsSelectedBy(t, antaeus.Namespace, *peer.PodSelector); len(got) != 1 || got[0].Name != antaeus.Name {
					t.Errorf("peer pod selector %v does not pick exactly the Antaeus pods", peer.PodSelector.MatchLabels)
				}
				if len(rule.Ports) != 1 {
					t.Errorf("rule opens %+v, want only the payments http port", rule.Ports)
				}
			}
		})
	}
}

func TestAntaeusReachesTheInternetOnlyWhenItsImageDownloadsAtStart(t *testing.T) {
	for _, flavor := range config.Flavors {
		for _, stackName := range committedStacks {
			cfg := committedConfig(t, stackName).with(t, config.KeyAntaeus, []string{"flavor"}, string(flavor))
			cfg = cfg.with(t, config.KeyAntaeus, []string{"resources"}, nil) // the flavor's defaults
			d, err := deploy(t, stackName, cfg)
			if err != nil {
				t.Fatalf("stack %s with flavor %s: %v", stackName, flavor, err)
			}
			m := manifestsOf(t, d)
			antaeus := m.deploymentOf(t, config.ServiceAntaeus)
			var internet bool
			for _, p := range m.policies {
				if p.Namespace != antaeus.Namespace {
					continue
				}
				for _, rule := range p.Spec.Egress {
					for _, peer := range rule.To {
						internet = internet || (peer.IPBlock != nil && peer.IPBlock.CIDR == "0.0.0.0/0")
					}
				}
			}
			if internet != (flavor == config.FlavorStock) {
				t.Errorf("stack %s with flavor %s: internet egress %v, want %v", stackName, flavor, internet, flavor == config.FlavorStock)
			}
			runsAsRoot := antaeus.Spec.Template.Spec.SecurityContext.RunAsNonRoot == nil
			if runsAsRoot != (flavor == config.FlavorStock) {
				t.Errorf("stack %s with flavor %s: may run as root %v, want %v", stackName, flavor, runsAsRoot, flavor == config.FlavorStock)
			}
		}
	}
}

func TestAntaeusAdmitsTheGatewayOrIngressControllerOrAnyoneWhenExposedDirectly(t *testing.T) {
	controller := map[string]string{namespaceNameLabel: "ingress-nginx"}
	dataPlane := map[string]string{namespaceNameLabel: "gateway-system"}
	gateway := func(admitted map[string]any) map[string]any {
		g := map[string]any{"name": "public", "namespace": "gateway-system", "host": "antaeus.example.com"}
		for k, v := range admitted {
			g[k] = v
		}
		return map[string]any{"mode": "gateway", "gateway": g}
	}
	for _, tc := range []struct {
		name   string
		expose map[string]any
		want   []networkingv1.NetworkPolicyPeer
	}{
		{"behind an ingress, only the controller's namespace may call", map[string]any{
			"mode":    "ingress",
			"ingress": map[string]any{"host": "antaeus.example.com", "controllerNamespaceLabels": controller},
		}, []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: controller}}}},
		{"behind a gateway, only its data plane's namespace may call", gateway(map[string]any{"dataPlaneNamespaceLabels": dataPlane}),
			[]networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: dataPlane}}}},
		{"behind a gateway outside the cluster, only its addresses may call", gateway(map[string]any{"dataPlaneCIDRs": []string{"172.18.0.0/16", "fd00:18::/64"}}),
			[]networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "172.18.0.0/16"}}, {IPBlock: &networkingv1.IPBlock{CIDR: "fd00:18::/64"}}}},
		{"behind a gateway with both, its namespace and its addresses may call", gateway(map[string]any{"dataPlaneNamespaceLabels": dataPlane, "dataPlaneCIDRs": []string{"10.1.0.0/16"}}),
			[]networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: dataPlane}}, {IPBlock: &networkingv1.IPBlock{CIDR: "10.1.0.0/16"}}}},
		{"through a load balancer, anyone may call", map[string]any{"mode": "loadBalancer"}, nil},
		{"through node ports, anyone may call", map[string]any{"mode": "nodePort"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := deployDevExposedAs(t, tc.expose)
			m := manifestsOf(t, d)
			antaeus := m.deploymentOf(t, config.ServiceAntaeus)
			var rules []networkingv1.NetworkPolicyIngressRule
			for _, p := range m.policies {
				if p.Namespace == antaeus.Namespace {
					rules = append(rules, p.Spec.Ingress...)
				}
			}
			if len(rules) != 1 {
				t.Fatalf("%d ingress rules for Antaeus, want 1", len(rules))
			}
			if !equalJSON(t, rules[0].From, tc.want) {
				t.Errorf("Antaeus admits %+v, want %+v", rules[0].From, tc.want)
			}
			if len(rules[0].Ports) != 1 || rules[0].Ports[0].Port.IntVal != 8000 {
				t.Errorf("Antaeus admits ports %+v, want only 8000", rules[0].Ports)
			}
		})
	}
}
