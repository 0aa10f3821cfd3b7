package stack

import (
	"maps"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// newNamespace declares the namespace a service of one environment lives
// in, under the Pod Security level its pods need.
func newNamespace(ctx *pulumi.Context, w workload, opts ...pulumi.ResourceOption) (*corev1.Namespace, error) {
	labels := w.labels()
	maps.Copy(labels, w.podSecurity.namespaceLabels())
	return corev1.NewNamespace(ctx, w.namespace(), &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:   pulumi.String(w.namespace()),
			Labels: stringMap(labels),
		},
	}, opts...)
}
