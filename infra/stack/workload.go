package stack

import (
	"fmt"

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

// workload is one service of one environment: the single place its names,
// labels and port are defined. The Deployment, the Service, the
// NetworkPolicies, the PodDisruptionBudget and the RBAC all read them from
// here, so they cannot drift apart.
type workload struct {
	service   config.Service
	env       string
	component string
	port      int
}

func paymentsWorkload(env string) workload {
	return workload{service: config.ServicePayments, env: env, component: "payment-provider", port: 9000}
}

func antaeusWorkload(env string) workload {
	// Antaeus listens on 8000, hard-coded upstream.
	return workload{service: config.ServiceAntaeus, env: env, component: "billing", port: 8000}
}

// name is the name of the service's Deployment, Service, ServiceAccount
// and container.
func (w workload) name() string { return string(w.service) }

// namespace is the name of the service's namespace in this environment.
func (w workload) namespace() string { return fmt.Sprintf("%s-%s", w.service, w.env) }

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

// addr is the listen address the service is given.
func (w workload) addr() string { return fmt.Sprintf(":%d", w.port) }

func stringMap(m map[string]string) pulumi.StringMap { return pulumi.ToStringMap(m) }
