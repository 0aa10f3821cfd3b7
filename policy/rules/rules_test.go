package rules

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tinjis/tinjis/infra/stack"
)

func TestTheCommittedStacksPassEveryRule(t *testing.T) {
	for _, name := range committedStacks {
		t.Run(name, func(t *testing.T) {
			s := declare(t, name)
			if found := check(s.intent, s.resources); len(found) > 0 {
				t.Errorf("the program as committed breaks the pack:\n%s", messages(found))
			}
		})
	}
}

// breakingChange is a change to what the program declares that must
// break exactly one rule, on the named resource.
type breakingChange struct {
	name, stack string
	change      func(t *testing.T, s *declaredStack) (urn string)
	rule        string
	// says is a part of the violation's message.
	says string
}

func TestEachRuleCatchesTheChangesThatBreakIt(t *testing.T) {
	for _, tt := range breakingChanges() {
		t.Run(tt.rule+"/"+tt.name, func(t *testing.T) {
			s := declare(t, tt.stack)
			urn := tt.change(t, &s)
			found := check(s.intent, s.resources)
			i := slices.IndexFunc(found, func(f finding) bool {
				return f.rule == tt.rule && f.urn == urn && strings.Contains(f.message, tt.says)
			})
			if i < 0 {
				t.Fatalf("no %s violation on %s saying %q; found:\n%s", tt.rule, urn, tt.says, messages(found))
			}
			for _, f := range found {
				if f.rule != tt.rule {
					t.Errorf("the change breaks %s too: %s", f.rule, f)
				}
			}
		})
	}
}

func breakingChanges() []breakingChange {
	urnOfFound := func(t *testing.T, s *declaredStack, typ, name string) string {
		return s.resources[s.find(t, typ, name)].URN
	}
	editedTo := func(typ, name string, change func(obj map[string]any)) func(t *testing.T, s *declaredStack) string {
		return func(t *testing.T, s *declaredStack) string {
			s.edit(t, typ, name, change)
			return urnOfFound(t, s, typ, name)
		}
	}
	unknownAt := func(typ, name, path string) func(t *testing.T, s *declaredStack) string {
		return func(t *testing.T, s *declaredStack) string {
			s.unknown(t, typ, name, path)
			return urnOfFound(t, s, typ, name)
		}
	}
	container := func(obj map[string]any) map[string]any {
		return dig(obj, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	}
	return []breakingChange{
		{
			name: "an allow-all ingress policy in payments' namespace", stack: "dev", rule: RuleIsolation,
			says:   "a pod in default -> payments http:9000 is ALLOWED",
			change: func(t *testing.T, s *declaredStack) string { return s.addAllowAll(t, "payments-dev") },
		},
		{
			name: "payments' policy lets Antaeus's labels in from any namespace", stack: "staging", rule: RuleIsolation,
			says: "Antaeus's labels in tinjis-policy-elsewhere -> payments http:9000 is ALLOWED",
			change: editedTo(typeNetworkPolicy, "payments", func(obj map[string]any) {
				from := dig(obj, "spec", "ingress").([]any)[0].(map[string]any)["from"].([]any)[0].(map[string]any)
				from["namespaceSelector"] = map[string]any{}
			}),
		},
		{
			name: "payments' metrics port open to every namespace", stack: "dev", rule: RuleIsolation,
			says: "a pod in default -> payments metrics:9090 is ALLOWED",
			change: editedTo(typeNetworkPolicy, "payments", func(obj map[string]any) {
				scrapers := dig(obj, "spec", "ingress").([]any)[1].(map[string]any)
				scrapers["from"] = []any{map[string]any{"namespaceSelector": map[string]any{}}}
			}),
		},
		{
			name: "the monitoring namespace reaches the charge port", stack: "staging", rule: RuleIsolation,
			says: "a pod in monitoring (monitoring) -> payments http:9000 is ALLOWED",
			change: editedTo(typeNetworkPolicy, "payments", func(obj map[string]any) {
				delete(dig(obj, "spec", "ingress").([]any)[1].(map[string]any), "ports")
			}),
		},
		{
			name: "no default deny in Antaeus's namespace", stack: "staging", rule: RuleIsolation,
			says: "another pod in antaeus-staging -> DNS 53/udp is ALLOWED",
			change: func(t *testing.T, s *declaredStack) string {
				s.remove(t, typeNetworkPolicy, "antaeus-default-deny")
				return urnOfFound(t, s, typeNamespace, "antaeus-staging")
			},
		},
		{
			name: "payments' ingress unknown at preview", stack: "dev", rule: RuleIsolation,
			says:   "cannot verify at preview",
			change: unknownAt(typeNetworkPolicy, "payments", "spec.ingress"),
		},
		{
			name: "a NodePort Service in payments' namespace", stack: "dev", rule: RuleExposure,
			says: "is of type NodePort",
			change: func(t *testing.T, s *declaredStack) string {
				return s.add(t, typeService, "payments-nodeport", &corev1.Service{
					TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
					ObjectMeta: metav1.ObjectMeta{Name: "payments-nodeport", Namespace: "payments-dev"},
					Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}},
				})
			},
		},
		{
			name: "payments' own Service turned into a LoadBalancer", stack: "staging", rule: RuleExposure,
			says:   "is of type LoadBalancer",
			change: editedTo(typeService, "payments", func(obj map[string]any) { dig(obj, "spec").(map[string]any)["type"] = "LoadBalancer" }),
		},
		{
			name: "payments' Service type unknown at preview", stack: "dev", rule: RuleExposure,
			says:   "cannot verify at preview",
			change: unknownAt(typeService, "payments", "spec.type"),
		},
		{
			name: "an Ingress in payments' namespace", stack: "dev", rule: RuleExposure,
			says: "routes outside traffic to payments",
			change: func(t *testing.T, s *declaredStack) string {
				return s.add(t, typeIngress, "payments", &networkingv1.Ingress{
					TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
					ObjectMeta: metav1.ObjectMeta{Name: "payments", Namespace: "payments-dev"},
				})
			},
		},
		{
			name: "staging's HTTPRoute sends traffic to payments", stack: "staging", rule: RuleExposure,
			says: "sends outside traffic to payments",
			change: editedTo(typeHTTPRoute, "antaeus", func(obj map[string]any) {
				ref := dig(obj, "spec", "rules").([]any)[0].(map[string]any)["backendRefs"].([]any)[0].(map[string]any)
				ref["name"], ref["namespace"] = "payments", "payments-staging"
			}),
		},
		{
			name: "payments' namespace loses its Pod Security label", stack: "dev", rule: RuleHardening,
			says: "enforces no Pod Security level",
			change: editedTo(typeNamespace, "payments-dev", func(obj map[string]any) {
				delete(dig(obj, "metadata", "labels").(map[string]any), "pod-security.kubernetes.io/enforce")
			}),
		},
		{
			name: "payments' namespace enforces only baseline", stack: "staging", rule: RuleHardening,
			says: "it must enforce restricted",
			change: editedTo(typeNamespace, "payments-staging", func(obj map[string]any) {
				dig(obj, "metadata", "labels").(map[string]any)["pod-security.kubernetes.io/enforce"] = "baseline"
			}),
		},
		{
			name: "payments writes its root filesystem", stack: "dev", rule: RuleHardening,
			says: "may write its root filesystem",
			change: editedTo(typeDeployment, "payments", func(obj map[string]any) {
				container(obj)["securityContext"].(map[string]any)["readOnlyRootFilesystem"] = false
			}),
		},
		{
			name: "Antaeus runs privileged", stack: "dev", rule: RuleHardening,
			says: "fails Pod Security level baseline",
			change: editedTo(typeDeployment, "antaeus", func(obj map[string]any) {
				container(obj)["securityContext"].(map[string]any)["privileged"] = true
			}),
		},
		{
			name: "payments without limits", stack: "staging", rule: RuleHardening,
			says: "sets no memory limits",
			change: editedTo(typeDeployment, "payments", func(obj map[string]any) {
				delete(container(obj)["resources"].(map[string]any), "limits")
			}),
		},
		{
			name: "payments' security context unknown at preview", stack: "dev", rule: RuleHardening,
			says:   "cannot verify at preview",
			change: unknownAt(typeDeployment, "payments", "spec.template.spec.containers[0].securityContext"),
		},
		{
			name: "payments on the latest tag", stack: "dev", rule: RuleImages,
			says:   "mutable latest tag",
			change: editedTo(typeDeployment, "payments", func(obj map[string]any) { container(obj)["image"] = "ghcr.io/tinjis/tinjis/payments:latest" }),
		},
		{
			name: "payments as a bare repository", stack: "dev", rule: RuleImages,
			says:   "names no tag",
			change: editedTo(typeDeployment, "payments", func(obj map[string]any) { container(obj)["image"] = "ghcr.io/tinjis/tinjis/payments" }),
		},
		{
			name: "a tag on a stack that deploys digests only", stack: "staging", rule: RuleImages,
			says:   "deploys digests only (tinjis:developerDigestsOnly)",
			change: editedTo(typeDeployment, "antaeus", func(obj map[string]any) { container(obj)["image"] = "ghcr.io/tinjis/tinjis/antaeus:1.0" }),
		},
		{
			name: "the image unknown at preview", stack: "staging", rule: RuleImages,
			says:   "cannot verify at preview",
			change: unknownAt(typeDeployment, "payments", "spec.template.spec.containers[0].image"),
		},
		{
			name: "developers may exec into pods", stack: "dev", rule: RuleRights,
			says: "grants the resources pods/exec",
			change: editedTo(typeRole, "payments-deployer", func(obj map[string]any) {
				obj["rules"] = append(obj["rules"].([]any), map[string]any{"apiGroups": []any{""}, "resources": []any{"pods/exec"}, "verbs": []any{"create"}})
			}),
		},
		{
			name: "developers may do anything to Deployments", stack: "staging", rule: RuleRights,
			says: "grants the verbs *",
			change: editedTo(typeRole, "antaeus-deployer", func(obj map[string]any) {
				obj["rules"].([]any)[0].(map[string]any)["verbs"] = []any{"*"}
			}),
		},
		{
			name: "developers bound to cluster-admin", stack: "dev", rule: RuleRights,
			says: "which this stack does not declare",
			change: func(t *testing.T, s *declaredStack) string {
				return s.add(t, typeClusterRoleBind, "developers-admin", &rbacv1.ClusterRoleBinding{
					TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
					ObjectMeta: metav1.ObjectMeta{Name: "developers-admin"},
					RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
					Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "alice@tinjis.example.com"}},
				})
			},
		},
		{
			name: "the deployers' subjects unknown at preview", stack: "dev", rule: RuleRights,
			says:   "cannot verify at preview",
			change: unknownAt(typeRoleBinding, "payments-deployers", "subjects"),
		},
		{
			name: "payments' admission binding removed", stack: "staging", rule: RuleAdmission,
			says: "namespace payments-staging has developers (alice@tinjis.example.com, carol@tinjis.example.com)",
			change: func(t *testing.T, s *declaredStack) string {
				s.remove(t, typeAdmissionBinding, "payments-developer-rollouts")
				return urnOfFound(t, s, typeNamespace, "payments-staging")
			},
		},
		{
			name: "payments' admission policy no longer checks updates", stack: "dev", rule: RuleAdmission,
			says: "namespace payments-dev has developers (alice@tinjis.example.com)",
			change: func(t *testing.T, s *declaredStack) string {
				s.edit(t, typeAdmissionPolicy, "payments-developer-rollouts", func(obj map[string]any) {
					rule := dig(obj, "spec", "matchConstraints").(map[string]any)["resourceRules"].([]any)[0].(map[string]any)
					rule["operations"] = []any{"CREATE"}
				})
				return urnOfFound(t, s, typeNamespace, "payments-dev")
			},
		},
		{
			name: "Antaeus's admission binding only warns", stack: "dev", rule: RuleAdmission,
			says: "namespace antaeus-dev has developers",
			change: func(t *testing.T, s *declaredStack) string {
				s.edit(t, typeAdmissionBinding, "antaeus-developer-rollouts", func(obj map[string]any) {
					dig(obj, "spec").(map[string]any)["validationActions"] = []any{"Warn"}
				})
				return urnOfFound(t, s, typeNamespace, "antaeus-dev")
			},
		},
	}
}

// dig walks a plain object down the keys.
func dig(obj map[string]any, keys ...string) any {
	var v any = obj
	for _, k := range keys {
		v = v.(map[string]any)[k]
	}
	return v
}

func TestAnotherProgramsAllowAllPolicyInPaymentsNamespaceIsCaught(t *testing.T) {
	s := declare(t, "dev")
	s.resources = nil
	urn := s.addAllowAll(t, "payments-dev")
	found := check(s.intent, s.resources)
	if !slices.ContainsFunc(found, func(f finding) bool { return f.rule == RuleIsolation && f.urn == urn }) {
		t.Fatalf("no isolation violation on the allow-all policy; found:\n%s", messages(found))
	}
}

// The pack names the service namespaces from the config
// (config.NamespaceOf); the program must declare exactly those, or the
// rules would look for payments where it is not.
func TestTheProgramDeclaresTheNamespacesTheIntentNames(t *testing.T) {
	for _, name := range committedStacks {
		t.Run(name, func(t *testing.T) {
			s := declare(t, name)
			var declared []string
			for _, r := range s.resources {
				if r.Type == typeNamespace {
					var ns metav1.PartialObjectMetadata
					if err := newObject(r).decode(&ns); err != nil {
						t.Fatal(err)
					}
					declared = append(declared, ns.Name)
				}
			}
			want := []string{s.intent.paymentsNamespace(), s.intent.antaeusNamespace()}
			if !slices.Equal(slices.Sorted(slices.Values(declared)), slices.Sorted(slices.Values(want))) {
				t.Fatalf("the program declares the namespaces %v; the pack expects %v", declared, want)
			}
		})
	}
}

// addAllowAll declares a NetworkPolicy admitting every source to every pod
// of the namespace.
func (s *declaredStack) addAllowAll(t *testing.T, namespace string) string {
	t.Helper()
	return s.add(t, typeNetworkPolicy, "allow-all", &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "allow-all", Namespace: namespace},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{}},
		},
	})
}

// The pack names payments' ports as the program declares them.
func TestThePackNamesPaymentsPortsAsTheProgramDoes(t *testing.T) {
	if metricsPortName != stack.MetricsPortName {
		t.Errorf("the pack's metrics port is %q, the program's %q", metricsPortName, stack.MetricsPortName)
	}
	s := declare(t, "dev")
	var d appsv1.Deployment
	if err := newObject(s.resources[s.find(t, typeDeployment, "payments")]).decode(&d); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{servicePortName, metricsPortName}) {
		t.Errorf("payments declares the ports %v; the pack's intent names %q and %q", names, servicePortName, metricsPortName)
	}
}
