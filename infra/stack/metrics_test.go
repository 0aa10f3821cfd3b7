package stack_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/stack"
)

// portNamed is the number of a Deployment's container port, by name.
func portNamed(t *testing.T, d appsv1.Deployment, name string) int32 {
	t.Helper()
	for number, n := range containerPorts(d) {
		if n == name {
			return number
		}
	}
	t.Fatalf("Deployment %s/%s has no container port named %s: %v", d.Namespace, d.Name, name, containerPorts(d))
	return 0
}

// rulesOpening are the ingress rules that open port.
func rulesOpening(rules []networkingv1.NetworkPolicyIngressRule, port int32) []networkingv1.NetworkPolicyIngressRule {
	var opening []networkingv1.NetworkPolicyIngressRule
	for _, rule := range rules {
		for _, p := range rule.Ports {
			if p.Port != nil && p.Port.IntVal == port {
				opening = append(opening, rule)
				break
			}
		}
	}
	return opening
}

func TestPaymentsServesMetricsOnANamedPortOfItsContainerAndService(t *testing.T) {
	for _, m := range committedManifests(t) {
		t.Run(m.stack, func(t *testing.T) {
			payments := m.deploymentOf(t, config.ServicePayments)
			metrics := portNamed(t, payments, stack.MetricsPortName)
			if metrics == portNamed(t, payments, "http") {
				t.Fatalf("metrics are served on the http port %d", metrics)
			}
			var found bool
			for _, svc := range m.services {
				if svc.Namespace != payments.Namespace {
					continue
				}
				for _, p := range svc.Spec.Ports {
					if p.Name == stack.MetricsPortName {
						found = true
						if p.TargetPort.StrVal != stack.MetricsPortName || p.Port != metrics {
							t.Errorf("Service %s port %s forwards %d to %q, want %d to the container port %s", svc.Name, p.Name, p.Port, p.TargetPort.String(), metrics, stack.MetricsPortName)
						}
					}
				}
			}
			if !found {
				t.Errorf("no Service of %s has a port named %s", payments.Namespace, stack.MetricsPortName)
			}
		})
	}
}

func TestOnlyTheConfiguredScrapersReachThePaymentsMetricsPort(t *testing.T) {
	monitoring := map[string]string{namespaceNameLabel: "monitoring"}
	for _, tc := range []struct {
		name string
		from any
		// want nil: no rule opens the metrics port.
		want []networkingv1.NetworkPolicyPeer
	}{
		{"without a source, nobody", nil, nil},
		{"with an empty source, nobody", map[string]any{"namespaceLabels": map[string]any{}, "cidrs": []string{}}, nil},
		{"the monitoring namespace's pods", map[string]any{"namespaceLabels": monitoring},
			[]networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: monitoring}}}},
		{"scrapers outside the cluster, by address", map[string]any{"cidrs": []string{"10.8.0.0/16"}},
			[]networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.8.0.0/16"}}}},
		{"both", map[string]any{"namespaceLabels": monitoring, "cidrs": []string{"10.8.0.0/16"}},
			[]networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: monitoring}}, {IPBlock: &networkingv1.IPBlock{CIDR: "10.8.0.0/16"}}}},
	} {
		for _, stackName := range committedStacks {
			t.Run(stackName+": "+tc.name, func(t *testing.T) {
				cfg := committedConfig(t, stackName).with(t, config.KeyPayments, []string{"metrics", "from"}, tc.from)
				d, err := deploy(t, stackName, cfg)
				if err != nil {
					t.Fatal(err)
				}
				m := manifestsOf(t, d)
				payments := m.deploymentOf(t, config.ServicePayments)
				metrics := portNamed(t, payments, stack.MetricsPortName)
				var rules []networkingv1.NetworkPolicyIngressRule
				for _, p := range m.policies {
					if p.Namespace == payments.Namespace {
						rules = append(rules, rulesOpening(p.Spec.Ingress, metrics)...)
					}
				}
				if tc.want == nil {
					if len(rules) > 0 {
						t.Errorf("the metrics port %d is opened by %+v, want by no rule", metrics, rules)
					}
					return
				}
				if len(rules) != 1 || len(rules[0].Ports) != 1 {
					t.Fatalf("the metrics port %d is opened by %+v, want one rule opening it alone", metrics, rules)
				}
				if !equalJSON(t, rules[0].From, tc.want) {
					t.Errorf("the metrics port admits %+v, want %+v", rules[0].From, tc.want)
				}
			})
		}
	}
}

func TestAntaeusMayCallOnlyThePaymentsChargePort(t *testing.T) {
	for _, m := range committedManifests(t) {
		t.Run(m.stack, func(t *testing.T) {
			payments := m.deploymentOf(t, config.ServicePayments)
			antaeus := m.deploymentOf(t, config.ServiceAntaeus)
			var opened []int32
			for _, p := range m.policies {
				if p.Namespace != antaeus.Namespace {
					continue
				}
				for _, rule := range p.Spec.Egress {
					for _, peer := range rule.To {
						if peer.NamespaceSelector == nil || peer.NamespaceSelector.MatchLabels[namespaceNameLabel] != payments.Namespace {
							continue
						}
						for _, port := range rule.Ports {
							opened = append(opened, port.Port.IntVal)
						}
					}
				}
			}
			if http := portNamed(t, payments, "http"); len(opened) != 1 || opened[0] != http {
				t.Errorf("Antaeus may call payments on %v, want only the charge port %d", opened, http)
			}
		})
	}
}
