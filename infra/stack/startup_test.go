package stack_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	corev1 "k8s.io/api/core/v1"
)

// The components, as their URNs name them.
const (
	typePaymentsComponent = "tinjis:index:Payments"
	typeAntaeusComponent  = "tinjis:index:Antaeus"
)

// Neither service waits for the other: no resource of one takes an output of
// the other's resources or its namespace, so both roll out at once.
func TestNeitherServiceWaitsForTheOther(t *testing.T) {
	for _, name := range committedStacks {
		t.Run(name, func(t *testing.T) {
			d := mustDeploy(t, name)
			other := map[string]string{typePaymentsComponent: typeAntaeusComponent, typeAntaeusComponent: typePaymentsComponent}
			for _, r := range d.all() {
				own := componentOf(resource.URN(r.parent))
				if other[own] == "" {
					continue
				}
				for _, dep := range r.dependencies {
					urn := resource.URN(dep)
					if strings.Contains(string(urn.QualifiedType()), other[own]) {
						t.Errorf("%s %s of %s waits for %s", r.typ, r.name, own, dep)
					}
					if ns := namespaceOf(r); ns != "" && string(urn.Type()) == typeNamespace && urn.Name() != ns {
						t.Errorf("%s %s in namespace %s waits for namespace %s", r.typ, r.name, ns, urn.Name())
					}
				}
			}
		})
	}
}

// namespaceOf is the namespace a namespaced object is declared in.
func namespaceOf(r declaredResource) string {
	metadata := r.inputs["metadata"]
	if !metadata.IsObject() {
		return ""
	}
	namespace := metadata.ObjectValue()["namespace"]
	if !namespace.IsString() {
		return ""
	}
	return namespace.StringValue()
}

// componentOf is the tinjis component a URN names, or is nested in.
func componentOf(urn resource.URN) string {
	if !urn.IsValid() {
		return ""
	}
	for _, typ := range []string{typePaymentsComponent, typeAntaeusComponent} {
		if strings.Contains(string(urn.QualifiedType()), typ) {
			return typ
		}
	}
	return ""
}

// A pod turns Ready within a second of answering: kubelet asks that often
// while it starts and while it serves.
func TestReadyFollowsTheProcessWithinASecond(t *testing.T) {
	for _, m := range committedManifests(t) {
		for _, d := range m.deployments {
			c := d.Spec.Template.Spec.Containers[0]
			for kind, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe} {
				if p != nil && p.PeriodSeconds > 1 {
					t.Errorf("stack %s: %s's %s probe asks every %ds, want every second", m.stack, d.Name, kind, p.PeriodSeconds)
				}
			}
		}
	}
}
