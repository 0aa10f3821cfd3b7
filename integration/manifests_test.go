package integration

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	psaapi "k8s.io/pod-security-admission/api"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/tinjis/tinjis/infra/config"
)

// manifests are one stack's Kubernetes objects, typed, whether read back
// from the API server or from rendered YAML files.
type manifests struct {
	namespaces      []corev1.Namespace
	deployments     []appsv1.Deployment
	services        []corev1.Service
	serviceAccounts []corev1.ServiceAccount
	networkPolicies []networkingv1.NetworkPolicy
	budgets         []policyv1.PodDisruptionBudget
	roles           []rbacv1.Role
	roleBindings    []rbacv1.RoleBinding
	httpRoutes      []gatewayv1.HTTPRoute
	others          []string
}

// add converts u to its typed form and files it by kind.
func (m *manifests) add(u *unstructured.Unstructured) error {
	into := func(obj any) error {
		return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj)
	}
	var err error
	switch u.GroupVersionKind().GroupKind().String() {
	case "Namespace":
		err = appendConverted(&m.namespaces, into)
	case "Deployment.apps":
		err = appendConverted(&m.deployments, into)
	case "Service":
		err = appendConverted(&m.services, into)
	case "ServiceAccount":
		err = appendConverted(&m.serviceAccounts, into)
	case "NetworkPolicy.networking.k8s.io":
		err = appendConverted(&m.networkPolicies, into)
	case "PodDisruptionBudget.policy":
		err = appendConverted(&m.budgets, into)
	case "Role.rbac.authorization.k8s.io":
		err = appendConverted(&m.roles, into)
	case "RoleBinding.rbac.authorization.k8s.io":
		err = appendConverted(&m.roleBindings, into)
	case "HTTPRoute.gateway.networking.k8s.io":
		err = appendConverted(&m.httpRoutes, into)
	default:
		m.others = append(m.others, u.GetKind()+" "+u.GetNamespace()+"/"+u.GetName())
	}
	if err != nil {
		return fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

func appendConverted[T any](list *[]T, into func(any) error) error {
	var obj T
	if err := into(&obj); err != nil {
		return err
	}
	*list = append(*list, obj)
	return nil
}

// deployment returns the Deployment of a service: the one named after it.
func (m *manifests) deployment(t *testing.T, service config.Service) appsv1.Deployment {
	t.Helper()
	for _, d := range m.deployments {
		if d.Name == string(service) {
			return d
		}
	}
	t.Fatalf("no Deployment named %s among %d Deployments", service, len(m.deployments))
	return appsv1.Deployment{}
}

// servicesSelecting returns the Services whose selector picks the pods of d.
func (m *manifests) servicesSelecting(d appsv1.Deployment) []corev1.Service {
	var picked []corev1.Service
	for _, s := range m.services {
		if s.Namespace == d.Namespace && len(s.Spec.Selector) > 0 &&
			labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			picked = append(picked, s)
		}
	}
	return picked
}

// recommendedLabels are the app.kubernetes.io labels every object and pod
// of the stack carries (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/).
var recommendedLabels = []string{
	"app.kubernetes.io/name",
	"app.kubernetes.io/instance",
	"app.kubernetes.io/part-of",
	"app.kubernetes.io/managed-by",
}

// checkDeclaredStack asserts, over every object of a stack, what the
// platform promises whatever the stack: probes, resources and a locked-down
// securityContext on every container, the recommended labels, Antaeus as
// one Recreate replica that reaches payments through its Service,
// default-deny NetworkPolicies, and deploy rights exactly as configured.
func checkDeclaredStack(t *testing.T, cfg config.Config, m *manifests) {
	t.Run("every Deployment's containers have probes, resources and a locked-down securityContext", func(t *testing.T) {
		if len(m.deployments) < 2 {
			t.Fatalf("got %d Deployments, want one per service (payments, antaeus)", len(m.deployments))
		}
		for _, d := range m.deployments {
			checkPodSpec(t, d.Namespace+"/"+d.Name, d.Spec.Template.Spec)
		}
	})

	t.Run("every object carries the recommended labels", func(t *testing.T) {
		for _, o := range m.metas() {
			for _, key := range recommendedLabels {
				if o.labels[key] == "" {
					t.Errorf("%s has no label %s", o.name, key)
				}
			}
		}
		for _, d := range m.deployments {
			for _, key := range recommendedLabels {
				if d.Spec.Template.Labels[key] == "" {
					t.Errorf("the pods of Deployment %s/%s have no label %s", d.Namespace, d.Name, key)
				}
			}
		}
	})

	t.Run("payments runs the configured image and replicas, restricted and rolling without downtime", func(t *testing.T) {
		d := m.deployment(t, config.ServicePayments)
		c := d.Spec.Template.Spec.Containers[0]
		if c.Image != cfg.Payments.Image {
			t.Errorf("image = %q, want %q", c.Image, cfg.Payments.Image)
		}
		if got, want := deref(d.Spec.Replicas), int32(*cfg.Payments.Replicas); got != want {
			t.Errorf("replicas = %d, want %d", got, want)
		}
		checkRestricted(t, "payments", d.Spec.Template.Spec)
		checkHTTPProbe(t, "liveness", c.LivenessProbe, "/healthz")
		checkHTTPProbe(t, "readiness", c.ReadinessProbe, "/readyz")
		ru := d.Spec.Strategy.RollingUpdate
		if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
			t.Errorf("strategy = %+v, want RollingUpdate with maxUnavailable 0", d.Spec.Strategy)
		}
		if cfg.HighAvailability {
			checkHighAvailability(t, m, d)
		}
	})

	t.Run("antaeus runs one Recreate replica with a startup probe on /rest/health", func(t *testing.T) {
		d := m.deployment(t, config.ServiceAntaeus)
		c := d.Spec.Template.Spec.Containers[0]
		if c.Image != cfg.Antaeus.Image {
			t.Errorf("image = %q, want %q", c.Image, cfg.Antaeus.Image)
		}
		if got := deref(d.Spec.Replicas); got != 1 {
			t.Errorf("replicas = %d, want 1: every replica has its own database", got)
		}
		if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("strategy = %s, want Recreate: two replicas must never run at once", d.Spec.Strategy.Type)
		}
		checkHTTPProbe(t, "startup", c.StartupProbe, "/rest/health")
		if !cfg.Antaeus.Flavor.RunsAsRoot() {
			checkRestricted(t, "antaeus", d.Spec.Template.Spec)
		}
	})

	t.Run("antaeus's PAYMENT_PROVIDER_ENDPOINT is the payments Service", func(t *testing.T) {
		antaeus := m.deployment(t, config.ServiceAntaeus)
		payments := m.deployment(t, config.ServicePayments)
		endpoint := envValue(antaeus.Spec.Template.Spec.Containers[0], "PAYMENT_PROVIDER_ENDPOINT")
		u, err := url.Parse(endpoint)
		if err != nil || u.Scheme != "http" {
			t.Fatalf("PAYMENT_PROVIDER_ENDPOINT = %q, want an http URL", endpoint)
		}
		wantHostSuffix := ".svc." + cfg.Kubernetes.ClusterDomain
		serviceName, namespace, _ := strings.Cut(strings.TrimSuffix(u.Hostname(), wantHostSuffix), ".")
		port, _ := strconv.Atoi(u.Port())
		for _, s := range m.servicesSelecting(payments) {
			if s.Name == serviceName && s.Namespace == namespace && slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == port }) &&
				strings.HasSuffix(u.Hostname(), wantHostSuffix) {
				return
			}
		}
		t.Errorf("PAYMENT_PROVIDER_ENDPOINT = %q names no port of a Service selecting the payments pods (want http://<service>.<namespace>%s:<port>/...)", endpoint, wantHostSuffix)
	})

	t.Run("in gateway mode an HTTPRoute sends the host to Antaeus's Service through the configured Gateway, else there is none", func(t *testing.T) {
		if cfg.Expose.Mode != config.ExposeGateway {
			if len(m.httpRoutes) != 0 {
				t.Errorf("%d HTTPRoutes in %s mode, want none", len(m.httpRoutes), cfg.Expose.Mode)
			}
			return
		}
		if len(m.httpRoutes) != 1 {
			t.Fatalf("%d HTTPRoutes, want 1", len(m.httpRoutes))
		}
		checkRoute(t, cfg.Expose.Gateway, m.httpRoutes[0], m.servicesSelecting(m.deployment(t, config.ServiceAntaeus)))
	})

	t.Run("every namespace denies all traffic by default", func(t *testing.T) {
		if len(m.namespaces) < 2 {
			t.Fatalf("got %d Namespaces, want one per service", len(m.namespaces))
		}
		for _, ns := range m.namespaces {
			if !slices.ContainsFunc(m.networkPolicies, func(p networkingv1.NetworkPolicy) bool {
				return p.Namespace == ns.Name && isDefaultDeny(p)
			}) {
				t.Errorf("namespace %s has no NetworkPolicy selecting every pod with no ingress and no egress rule", ns.Name)
			}
		}
	})

	t.Run("every namespace enforces a Pod Security level", func(t *testing.T) {
		for _, ns := range m.namespaces {
			want := psaapi.LevelRestricted
			if strings.HasPrefix(ns.Name, string(config.ServiceAntaeus)) && cfg.Antaeus.Flavor.RunsAsRoot() {
				want = psaapi.LevelBaseline
			}
			if got := ns.Labels[psaapi.EnforceLevelLabel]; got != string(want) {
				t.Errorf("namespace %s: %s = %q, want %q", ns.Name, psaapi.EnforceLevelLabel, got, want)
			}
		}
	})

	t.Run("RoleBindings grant each service to exactly its configured developers", func(t *testing.T) {
		for _, service := range config.Services {
			namespace := m.deployment(t, service).Namespace
			var bound []string
			for _, b := range m.roleBindings {
				if b.Namespace != namespace {
					continue
				}
				for _, s := range b.Subjects {
					bound = append(bound, s.Kind+":"+s.Name)
				}
			}
			var want []string
			for _, name := range cfg.DevelopersOf(service) {
				want = append(want, rbacv1.UserKind+":"+name)
			}
			slices.Sort(bound)
			slices.Sort(want)
			if !slices.Equal(bound, want) {
				t.Errorf("namespace %s binds %v, want exactly %v", namespace, bound, want)
			}
		}
	})
}

func checkPodSpec(t *testing.T, name string, spec corev1.PodSpec) {
	t.Helper()
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s mounts a service account token", name)
	}
	for _, c := range spec.Containers {
		where := name + " container " + c.Name
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("%s lacks a liveness or readiness probe", where)
		}
		for _, resource := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if c.Resources.Requests.Name(resource, "").IsZero() || c.Resources.Limits.Name(resource, "").IsZero() {
				t.Errorf("%s lacks a %s request or limit", where, resource)
			}
		}
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s has no securityContext", where)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s allows privilege escalation", where)
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
			t.Errorf("%s does not drop all capabilities", where)
		case seccomp(spec, c) != corev1.SeccompProfileTypeRuntimeDefault:
			t.Errorf("%s does not run under the RuntimeDefault seccomp profile", where)
		}
	}
}

// checkRestricted asserts the restricted Pod Security settings: non-root
// and a read-only root filesystem.
func checkRestricted(t *testing.T, name string, spec corev1.PodSpec) {
	t.Helper()
	for _, c := range spec.Containers {
		nonRoot := deref(spec.SecurityContext.RunAsNonRoot) || (c.SecurityContext != nil && deref(c.SecurityContext.RunAsNonRoot))
		if !nonRoot {
			t.Errorf("%s container %s may run as root", name, c.Name)
		}
		if c.SecurityContext == nil || !deref(c.SecurityContext.ReadOnlyRootFilesystem) {
			t.Errorf("%s container %s has a writable root filesystem", name, c.Name)
		}
	}
}

func checkHTTPProbe(t *testing.T, kind string, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
		t.Errorf("%s probe = %+v, want an HTTP GET of %s", kind, p, path)
	}
}

func checkHighAvailability(t *testing.T, m *manifests, d appsv1.Deployment) {
	t.Helper()
	if deref(d.Spec.Replicas) < 2 {
		t.Errorf("highAvailability with %d payments replicas", deref(d.Spec.Replicas))
	}
	if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
		t.Error("highAvailability without topology spread constraints")
	}
	for _, b := range m.budgets {
		selector, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if b.Namespace == d.Namespace && err == nil && selector.Matches(labels.Set(d.Spec.Template.Labels)) {
			return
		}
	}
	t.Error("highAvailability without a PodDisruptionBudget selecting the payments pods")
}

// checkRoute checks that route attaches to the Gateway g names, for its
// host, and sends everything to a port of one of services.
func checkRoute(t *testing.T, g *config.Gateway, route gatewayv1.HTTPRoute, services []corev1.Service) {
	t.Helper()
	parents := route.Spec.ParentRefs
	if len(parents) != 1 || string(parents[0].Name) != g.Name || parents[0].Namespace == nil || string(*parents[0].Namespace) != g.Namespace {
		t.Errorf("HTTPRoute %s attaches to %+v, want the Gateway %s/%s", route.Name, parents, g.Namespace, g.Name)
	} else if section := string(deref(parents[0].SectionName)); section != g.SectionName {
		t.Errorf("HTTPRoute %s attaches to the listener %q, want %q", route.Name, section, g.SectionName)
	}
	if len(route.Spec.Hostnames) != 1 || string(route.Spec.Hostnames[0]) != g.Host {
		t.Errorf("HTTPRoute %s answers for %v, want %s", route.Name, route.Spec.Hostnames, g.Host)
	}
	if len(route.Spec.Rules) != 1 || len(route.Spec.Rules[0].BackendRefs) != 1 {
		t.Fatalf("HTTPRoute %s rules %+v, want one rule with one backend", route.Name, route.Spec.Rules)
	}
	backend := route.Spec.Rules[0].BackendRefs[0]
	if !slices.ContainsFunc(services, func(s corev1.Service) bool {
		return s.Namespace == route.Namespace && s.Name == string(backend.Name) && slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool {
			return backend.Port != nil && p.Port == int32(*backend.Port)
		})
	}) {
		t.Errorf("HTTPRoute %s sends traffic to %s:%v, no port of a Service selecting Antaeus's pods", route.Name, backend.Name, deref(backend.Port))
	}
}

func isDefaultDeny(p networkingv1.NetworkPolicy) bool {
	return len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.PodSelector.MatchExpressions) == 0 &&
		len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0 &&
		slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) &&
		slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
}

func seccomp(spec corev1.PodSpec, c corev1.Container) corev1.SeccompProfileType {
	if c.SecurityContext != nil && c.SecurityContext.SeccompProfile != nil {
		return c.SecurityContext.SeccompProfile.Type
	}
	if spec.SecurityContext != nil && spec.SecurityContext.SeccompProfile != nil {
		return spec.SecurityContext.SeccompProfile.Type
	}
	return ""
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// objectMeta is what the label checks need of any object.
type objectMeta struct {
	name   string
	labels map[string]string
}

// metas lists every object of the stack, except the RBAC objects, whose
// labels are not part of what the program promises.
func (m *manifests) metas() []objectMeta {
	var all []objectMeta
	add := func(kind string, o interface {
		GetName() string
		GetNamespace() string
		GetLabels() map[string]string
	}) {
		all = append(all, objectMeta{name: kind + " " + o.GetNamespace() + "/" + o.GetName(), labels: o.GetLabels()})
	}
	for i := range m.namespaces {
		add("Namespace", &m.namespaces[i])
	}
	for i := range m.deployments {
		add("Deployment", &m.deployments[i])
	}
	for i := range m.services {
		add("Service", &m.services[i])
	}
	for i := range m.serviceAccounts {
		add("ServiceAccount", &m.serviceAccounts[i])
	}
	for i := range m.httpRoutes {
		add("HTTPRoute", &m.httpRoutes[i])
	}
	return all
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
