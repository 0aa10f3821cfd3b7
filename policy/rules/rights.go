package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const rightsDescription = "Developers get only rollout rights: the Roles bound to them grant no wildcard, no create or " +
	"delete, no pods/exec, attach, port-forward, proxy or ephemeral containers, and nothing on RBAC or admission " +
	"objects; they are bound only to Roles the stack declares."

const admissionDescription = "Every service namespace with developers is selected by a Deny binding of an admission " +
	"policy that checks Deployment updates and fails closed, so a developer's rollout may change only the images."

// Verbs, subresources and API groups no developer's Role may grant.
var (
	forbiddenVerbs     = []string{"*", "create", "delete", "deletecollection", "escalate", "bind", "impersonate"}
	forbiddenResources = []string{"*", "pods/exec", "pods/attach", "pods/portforward", "pods/proxy", "services/proxy", "nodes/proxy", "pods/ephemeralcontainers"}
	forbiddenAPIGroups = []string{"*", rbacv1.GroupName, admissionv1.GroupName}
)

// roleRef names a Role (in a namespace) or a ClusterRole.
type roleRef struct {
	kind, namespace, name string
}

func (r roleRef) String() string {
	if r.namespace == "" {
		return r.kind + " " + r.name
	}
	return r.kind + " " + r.namespace + "/" + r.name
}

// declaredRole is a Role or ClusterRole of the stack.
type declaredRole struct {
	urn   string
	rules []rbacv1.PolicyRule
}

// rights checks every binding that names a developer of the stack: the
// role it binds must be one the stack declares, and grant none of the
// forbidden rights.
func rights(in Intent, resources []policyx.AnalyzerResource) []violation {
	developers := map[string]bool{}
	for _, d := range in.Config.Developers {
		developers[d.Name] = true
	}
	roles := map[roleRef]declaredRole{}
	var found []violation
	for _, r := range resources {
		if r.Type != typeRole && r.Type != typeClusterRole {
			continue
		}
		o := newObject(r)
		var role rbacv1.Role // a ClusterRole's rules decode alike
		if err := o.decode(&role); err != nil {
			found = append(found, violation{r.URN, err.Error()})
			continue
		}
		kind := "ClusterRole"
		if r.Type == typeRole {
			kind = "Role"
		}
		ref := roleRef{kind, role.Namespace, role.Name}
		if unknown := o.unknownUnder("metadata.name", "metadata.namespace", "rules"); len(unknown) > 0 {
			found = append(found, violation{r.URN, cannotVerify("what "+ref.String()+" grants", unknown)})
			continue
		}
		roles[ref] = declaredRole{urn: r.URN, rules: role.Rules}
	}
	checked := map[roleRef]bool{}
	for _, r := range resources {
		if r.Type != typeRoleBinding && r.Type != typeClusterRoleBind {
			continue
		}
		o := newObject(r)
		var binding rbacv1.RoleBinding // a ClusterRoleBinding decodes alike
		if err := o.decode(&binding); err != nil {
			found = append(found, violation{r.URN, err.Error()})
			continue
		}
		if unknown := o.unknownUnder("subjects", "roleRef", "metadata.namespace"); len(unknown) > 0 {
			found = append(found, violation{r.URN, cannotVerify("whom the binding grants what", unknown)})
			continue
		}
		if !slices.ContainsFunc(binding.Subjects, func(s rbacv1.Subject) bool { return s.Kind == rbacv1.UserKind && developers[s.Name] }) {
			continue
		}
		ref := roleRef{binding.RoleRef.Kind, "", binding.RoleRef.Name}
		if ref.kind == "Role" {
			ref.namespace = binding.Namespace
		}
		role, declared := roles[ref]
		if !declared {
			found = append(found, violation{r.URN, fmt.Sprintf("binds developers to %s, which this stack does not declare, so what it grants cannot be checked", ref)})
			continue
		}
		if checked[ref] {
			continue
		}
		checked[ref] = true
		for _, problem := range forbiddenGrants(role.rules) {
			found = append(found, violation{role.urn, fmt.Sprintf("%s, bound to developers by %s/%s, %s", ref, binding.Namespace, binding.Name, problem)})
		}
	}
	return found
}

// forbiddenGrants lists what the rules grant that no developer may have.
func forbiddenGrants(rules []rbacv1.PolicyRule) []string {
	var found []string
	for i, rule := range rules {
		grants := func(what string, granted, forbidden []string) {
			var bad []string
			for _, g := range granted {
				if slices.Contains(forbidden, g) || strings.Contains(g, "*") {
					bad = append(bad, g)
				}
			}
			if len(bad) > 0 {
				found = append(found, fmt.Sprintf("grants %s %s (rule %d)", what, strings.Join(bad, ", "), i))
			}
		}
		grants("the verbs", rule.Verbs, forbiddenVerbs)
		grants("the resources", rule.Resources, forbiddenResources)
		grants("the API groups", rule.APIGroups, forbiddenAPIGroups)
		if slices.Contains(rule.ResourceNames, "*") {
			found = append(found, fmt.Sprintf("grants every resource name (rule %d)", i))
		}
		if len(rule.NonResourceURLs) > 0 {
			found = append(found, fmt.Sprintf("grants the non-resource URLs %s (rule %d)", strings.Join(rule.NonResourceURLs, ", "), i))
		}
	}
	return found
}

// admission checks that each service namespace with developers is
// selected by a Deny binding of an admission policy the stack declares,
// whose failures are not ignored. What the policy's expressions say is the
// program's business, proven against a real API server by the suite.
func admission(in Intent, resources []policyx.AnalyzerResource) []violation {
	policies := map[string]admissionv1.ValidatingAdmissionPolicy{}
	var bindings []admissionv1.ValidatingAdmissionPolicyBinding
	namespaces := map[string]declaredNamespace{}
	var found []violation
	for _, r := range resources {
		o := newObject(r)
		switch r.Type {
		case typeAdmissionPolicy:
			var p admissionv1.ValidatingAdmissionPolicy
			if err := o.decode(&p); err != nil {
				found = append(found, violation{r.URN, err.Error()})
				continue
			}
			if unknown := o.unknownUnder("metadata.name", "spec.failurePolicy", "spec.matchConstraints"); len(unknown) > 0 {
				found = append(found, violation{r.URN, cannotVerify("which requests the admission policy checks", unknown)})
				continue
			}
			policies[p.Name] = p
		case typeAdmissionBinding:
			var b admissionv1.ValidatingAdmissionPolicyBinding
			if err := o.decode(&b); err != nil {
				found = append(found, violation{r.URN, err.Error()})
				continue
			}
			if unknown := o.unknownUnder("spec"); len(unknown) > 0 {
				found = append(found, violation{r.URN, cannotVerify("which namespaces the admission binding covers", unknown)})
				continue
			}
			bindings = append(bindings, b)
		case typeNamespace:
			var ns metav1.PartialObjectMetadata
			if err := o.decode(&ns); err == nil {
				namespaces[ns.Name] = declaredNamespace{urn: r.URN, labels: namespaceLabels(ns.Name, ns.Labels)}
			}
		}
	}
	for _, ns := range serviceNamespacesWithDevelopers(in) {
		declared, ok := namespaces[ns]
		if !ok {
			declared.labels = namespaceLabels(ns, nil)
		}
		if !guarded(declared.labels, policies, bindings) {
			found = append(found, violation{declared.urn, fmt.Sprintf("namespace %s has developers (%s) but no admission policy with a Deny binding selecting it: their rollouts could change more than the images", ns, strings.Join(in.developersIn(ns), ", "))})
		}
	}
	return found
}

// declaredNamespace is a Namespace of the stack: its URN (empty when the
// stack does not declare it) and its labels once created.
type declaredNamespace struct {
	urn    string
	labels map[string]string
}

// guarded reports whether a Deny binding of a declared, failing-closed
// policy that checks Deployment updates selects the namespace.
func guarded(nsLabels map[string]string, policies map[string]admissionv1.ValidatingAdmissionPolicy, bindings []admissionv1.ValidatingAdmissionPolicyBinding) bool {
	for _, b := range bindings {
		p, ok := policies[b.Spec.PolicyName]
		if !ok || !slices.Contains(b.Spec.ValidationActions, admissionv1.Deny) {
			continue
		}
		if p.Spec.FailurePolicy != nil && *p.Spec.FailurePolicy == admissionv1.Ignore {
			continue
		}
		if checksDeploymentUpdates(p.Spec.MatchConstraints) && selects(b.Spec.MatchResources, nsLabels) && selects(p.Spec.MatchConstraints, nsLabels) {
			return true
		}
	}
	return false
}

// checksDeploymentUpdates reports whether the policy's constraints match
// updates of Deployments: what a developer's rollout is.
func checksDeploymentUpdates(m *admissionv1.MatchResources) bool {
	if m == nil {
		return false
	}
	anyOf := func(values []string, want string) bool {
		return slices.Contains(values, want) || slices.Contains(values, "*")
	}
	for _, r := range m.ResourceRules {
		operations := make([]string, len(r.Operations))
		for i, o := range r.Operations {
			operations[i] = string(o)
		}
		if anyOf(r.APIGroups, "apps") && anyOf(r.Resources, "deployments") && anyOf(operations, string(admissionv1.Update)) {
			return true
		}
	}
	return false
}

// selects reports whether the match resources' namespace selector picks a
// namespace with these labels (no selector picks every namespace).
func selects(m *admissionv1.MatchResources, nsLabels map[string]string) bool {
	if m == nil || m.NamespaceSelector == nil {
		return true
	}
	sel, err := metav1.LabelSelectorAsSelector(m.NamespaceSelector)
	return err == nil && sel.Matches(labels.Set(nsLabels))
}

// namespaceLabels are the labels a namespace has once created: its own
// and the name label the API server adds to every namespace.
func namespaceLabels(name string, own map[string]string) map[string]string {
	all := labels.Merge(own, nil)
	all[corev1.LabelMetadataName] = name
	return all
}

// serviceNamespacesWithDevelopers are the namespaces of the services some
// developer may roll out.
func serviceNamespacesWithDevelopers(in Intent) []string {
	var namespaces []string
	for _, d := range in.Config.Developers {
		for _, s := range d.Services {
			if ns := in.Config.NamespaceOf(s); !slices.Contains(namespaces, ns) {
				namespaces = append(namespaces, ns)
			}
		}
	}
	return namespaces
}

// developersIn are the developers of the service whose namespace ns is.
func (i Intent) developersIn(ns string) []string {
	s, _ := i.serviceOf(ns)
	return i.Config.DevelopersOf(s)
}
