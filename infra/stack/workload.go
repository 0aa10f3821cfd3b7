package stack

import (
	"fmt"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
)

// Recommended labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/).
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelComponent = "app.kubernetes.io/component"
	labelPartOf    = "app.kubernetes.io/part-of"
	labelManagedBy = "app.kubernetes.io/managed-by"

	partOf    = "tinjis"
	managedBy = "pulumi"

	// namespaceNameLabel is set by the API server on every namespace.
	namespaceNameLabel = "kubernetes.io/metadata.name"
)

// httpPortName names the container port and the Service port of both
// services, so probes and Services refer to it by name.
const httpPortName = "http"

// MetricsPortName names the port a workload serves /metrics on, apart from
// its http port, on its container and its Service: what a scrape config
// names.
const MetricsPortName = "metrics"

// workload is one service of one environment: the single place its names,
// labels, port and Pod Security level are defined. The namespace, the
// Deployment, the Service, the NetworkPolicies, the PodDisruptionBudget and
// the RBAC all read them from here, so they cannot drift apart.
type workload struct {
	service   config.Service
	env       string
	component string
	port      int
	// metricsPort, when not 0, serves /metrics apart from port, so that
	// NetworkPolicies admit scrapers and clients separately.
	metricsPort int
	// podSecurity is the strictest level the service's image runs under.
	podSecurity podSecurityLevel
}

func paymentsWorkload(env string) workload {
	return workload{service: config.ServicePayments, env: env, component: "payment-provider", port: 9000, metricsPort: 9090, podSecurity: podSecurityRestricted}
}

func antaeusWorkload(env string, flavor config.Flavor) workload {
	// Antaeus listens on 8000, hard-coded upstream.
	w := workload{service: config.ServiceAntaeus, env: env, component: "billing", port: 8000, podSecurity: podSecurityRestricted}
	if flavor.RunsAsRoot() {
		w.podSecurity = podSecurityBaseline
	}
	return w
}

// name is the name of the service's Deployment, Service, ServiceAccount
// and container.
func (w workload) name() string { return string(w.service) }

// namespace is the name of the service's namespace in this environment.
func (w workload) namespace() string { return w.service.Namespace(w.env) }

// selector holds the labels that pick the service's pods; they never change
// once deployed (a Deployment's selector is immutable).
func (w workload) selector() map[string]string {
	return map[string]string{
		labelName:     w.name(),
		labelInstance: w.namespace(),
	}
}

// labels are the selector plus the other recommended labels, for every
// object of the service and its pods.
func (w workload) labels() map[string]string {
	labels := w.selector()
	labels[labelComponent] = w.component
	labels[labelPartOf] = partOf
	labels[labelManagedBy] = managedBy
	return labels
}

// objectMeta names an object of the workload and gives it its labels.
func objectMeta(w workload, namespace pulumi.StringInput, name string) metav1.ObjectMetaArgs {
	return metav1.ObjectMetaArgs{
		Name:      pulumi.String(name),
		Namespace: namespace,
		Labels:    stringMap(w.labels()),
	}
}

// addr is the listen address the service is given.
func (w workload) addr() string { return fmt.Sprintf(":%d", w.port) }

// metricsAddr is the listen address of the service's metrics.
func (w workload) metricsAddr() string { return fmt.Sprintf(":%d", w.metricsPort) }

// namedPort is a port the workload's container listens on.
type namedPort struct {
	name   string
	number int
}

// ports are the workload's container ports: http first, then metrics if
// it has them apart.
func (w workload) ports() []namedPort {
	ports := []namedPort{{httpPortName, w.port}}
	if w.metricsPort != 0 {
		ports = append(ports, namedPort{MetricsPortName, w.metricsPort})
	}
	return ports
}

func stringMap(m map[string]string) pulumi.StringMap { return pulumi.ToStringMap(m) }
