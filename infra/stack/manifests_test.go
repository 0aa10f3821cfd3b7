package stack_test

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/tinjis/tinjis/infra/config"
)

// manifests are the Kubernetes objects one run declared, typed.
type manifests struct {
	stack           string
	config          config.Config
	outputs         map[string]any
	namespaces      []corev1.Namespace
	deployments     []appsv1.Deployment
	services        []corev1.Service
	ingresses       []networkingv1.Ingress
	routes          []gatewayv1.HTTPRoute
	policies        []networkingv1.NetworkPolicy
	roles           []rbacv1.Role
	bindings        []rbacv1.RoleBinding
	disruptionBudgs []policyv1.PodDisruptionBudget
	secrets         []corev1.Secret
}

func manifestsOf(t *testing.T, d deployment) manifests {
	t.Helper()
	typed, err := config.Load(d.stack, d.config)
	if err != nil {
		t.Fatalf("stack %s: %v", d.stack, err)
	}
	return manifests{
		stack:           d.stack,
		config:          typed,
		outputs:         d.outputs,
		namespaces:      objects[corev1.Namespace](t, d.declared, typeNamespace),
		deployments:     objects[appsv1.Deployment](t, d.declared, typeDeployment),
		services:        objects[corev1.Service](t, d.declared, typeService),
		ingresses:       objects[networkingv1.Ingress](t, d.declared, typeIngress),
		routes:          objects[gatewayv1.HTTPRoute](t, d.declared, typeHTTPRoute),
		policies:        objects[networkingv1.NetworkPolicy](t, d.declared, typeNetworkPolicy),
		roles:           objects[rbacv1.Role](t, d.declared, typeRole),
		bindings:        objects[rbacv1.RoleBinding](t, d.declared, typeRoleBinding),
		disruptionBudgs: objects[policyv1.PodDisruptionBudget](t, d.declared, typeDisruptionBudg),
		secrets:         objects[corev1.Secret](t, d.declared, typeSecret),
	}
}

// committedManifests runs the program on every committed stack file.
func committedManifests(t *testing.T) []manifests {
	t.Helper()
	var all []manifests
	for _, name := range committedStacks {
		all = append(all, manifestsOf(t, mustDeploy(t, name)))
	}
	return all
}

// deploymentOf is the Deployment of a service, found by the name the
// service has in config.
func (m manifests) deploymentOf(t *testing.T, s config.Service) appsv1.Deployment {
	t.Helper()
	for _, d := range m.deployments {
		if d.Name == string(s) {
			return d
		}
	}
	t.Fatalf("stack %s declares no Deployment for %s", m.stack, s)
	return appsv1.Deployment{}
}

func (m manifests) namespace(name string) (corev1.Namespace, bool) {
	for _, ns := range m.namespaces {
		if ns.Name == name {
			return ns, true
		}
	}
	return corev1.Namespace{}, false
}

// deploymentsSelectedBy returns the Deployments in namespace whose pods the
// selector matches.
func (m manifests) deploymentsSelectedBy(t *testing.T, namespace string, selector metav1.LabelSelector) []appsv1.Deployment {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(&selector)
	if err != nil {
		t.Fatalf("selector %v: %v", selector, err)
	}
	var out []appsv1.Deployment
	for _, d := range m.deployments {
		if d.Namespace == namespace && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, d)
		}
	}
	return out
}

// containerPorts are the ports a Deployment's containers declare.
func containerPorts(d appsv1.Deployment) map[int32]string {
	ports := map[int32]string{}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			ports[p.ContainerPort] = p.Name
		}
	}
	return ports
}

// mapSource hands the typed config loader the same values the program got.
type mapSource struct {
	values     stackConfig
	secretKeys []string
}

func (s mapSource) GetConfig(key string) (string, bool) {
	v, ok := s.values[key]
	return v, ok
}

func (s mapSource) IsConfigSecret(key string) bool { return slices.Contains(s.secretKeys, key) }
