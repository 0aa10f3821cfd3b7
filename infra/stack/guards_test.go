package stack_test

import (
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/stack"
)

// guardsOf are the declared policies that are no service's: the cluster
// guards, with the binding of each.
func guardsOf(t *testing.T, d deployment) map[string]admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	t.Helper()
	a := admissionOf(t, d)
	guards := map[string]admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
	for _, p := range a.policies {
		if p.Spec.MatchConstraints.ResourceRules[0].Resources[0] == "deployments" {
			continue
		}
		i := slices.IndexFunc(a.bindings, func(b admissionregistrationv1.ValidatingAdmissionPolicyBinding) bool {
			return b.Spec.PolicyName == p.Name
		})
		if i < 0 {
			t.Fatalf("guard %s is not bound", p.Name)
		}
		if p.Spec.FailurePolicy == nil || *p.Spec.FailurePolicy != admissionregistrationv1.Fail {
			t.Errorf("guard %s does not fail closed", p.Name)
		}
		if !slices.Equal(a.bindings[i].Spec.ValidationActions, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}) {
			t.Errorf("guard %s only %v, want Deny", p.Name, a.bindings[i].Spec.ValidationActions)
		}
		guards[messages(p)] = a.bindings[i]
	}
	return guards
}

func messages(p admissionregistrationv1.ValidatingAdmissionPolicy) string {
	var all []string
	for _, v := range p.Spec.Validations {
		all = append(all, v.Message)
	}
	return strings.Join(all, "\n")
}

func TestStagingGuardsTheClusterAndDevDoesNot(t *testing.T) {
	if guards := guardsOf(t, mustDeploy(t, "dev")); len(guards) != 0 {
		t.Errorf("dev declares cluster guards %v; they are opt-in", guards)
	}
	staging := mustDeploy(t, "staging")
	cfg := manifestsOf(t, staging).config
	guards := guardsOf(t, staging)
	var hostAccess, externalIPs int
	for msgs, binding := range guards {
		switch {
		case strings.Contains(msgs, stack.HostAccessMarker):
			hostAccess++
			for _, field := range []string{"hostNetwork", "hostPID", "hostIPC", "hostPort"} {
				if !strings.Contains(msgs, "("+field+")") {
					t.Errorf("the host access guard has no rule naming %s:\n%s", field, msgs)
				}
			}
			want := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: cfg.ClusterGuards.HostNamespaces,
			}}}
			if got := binding.Spec.MatchResources.NamespaceSelector; !equalJSON(t, got, want) {
				t.Errorf("the host access guard holds in namespaces %+v, want all but %v", got, cfg.ClusterGuards.HostNamespaces)
			}
		case strings.Contains(msgs, stack.ExternalIPsMarker):
			externalIPs++
			if selector := binding.Spec.MatchResources.NamespaceSelector; selector != nil {
				t.Errorf("the externalIPs guard holds only in namespaces %+v, want every namespace", selector)
			}
		default:
			t.Errorf("unexpected guard:\n%s", msgs)
		}
	}
	if hostAccess != 1 || externalIPs != 1 {
		t.Errorf("staging declares %d host access and %d externalIPs guards, want one each", hostAccess, externalIPs)
	}
}

func TestTwoStacksWithGuardsOnOneClusterDoNotCollide(t *testing.T) {
	names := map[string]string{}
	for _, env := range []string{"dev", "staging"} {
		cfg := committedConfig(t, "staging").with(t, config.KeyEnvironment, nil, env)
		d, err := deploy(t, "staging", cfg)
		if err != nil {
			t.Fatal(err)
		}
		a := admissionOf(t, d)
		for _, p := range a.policies {
			if other, taken := names[p.Name]; taken {
				t.Errorf("environments %s and %s both declare policy %s", other, env, p.Name)
			}
			names[p.Name] = env
		}
		for _, b := range a.bindings {
			if other, taken := names["binding "+b.Name]; taken {
				t.Errorf("environments %s and %s both declare binding %s", other, env, b.Name)
			}
			names["binding "+b.Name] = env
		}
	}
}

func TestAHostNamespaceListLeftEmptyGuardsEveryNamespace(t *testing.T) {
	d, err := deploy(t, "staging", committedConfig(t, "staging").with(t, config.KeyClusterGuards, nil, "{}"))
	if err != nil {
		t.Fatal(err)
	}
	for msgs, binding := range guardsOf(t, d) {
		if selector := binding.Spec.MatchResources.NamespaceSelector; selector != nil {
			t.Errorf("guard holds only in namespaces %+v, want every namespace:\n%s", selector, msgs)
		}
	}
}
