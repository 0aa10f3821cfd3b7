package stack

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
)

// newProvider is the only way resources reach a cluster: the kubeconfig and
// context the stack names, or no cluster at all when it renders manifests.
// The cluster identifier, not the kubeconfig, decides whether the provider
// (and with it every object, Antaeus's invoices too) is replaced: a moved
// kubeconfig file or a renamed context is only an update of the provider.
func newProvider(ctx *pulumi.Context, k config.Kubernetes, opts ...pulumi.ResourceOption) (*kubernetes.Provider, error) {
	args := &kubernetes.ProviderArgs{
		Kubeconfig:            optionalString(k.Kubeconfig),
		Context:               optionalString(k.Context),
		ClusterIdentifier:     pulumi.String(k.ClusterIdentifier),
		RenderYamlToDirectory: optionalString(k.RenderYamlToDirectory),
	}
	if k.RenderYamlToDirectory != "" {
		// Left nil, the SDK would take the user's KUBECONFIG, which the
		// provider refuses next to renderYamlToDirectory; empty counts as unset.
		args.Kubeconfig = pulumi.String("")
	}
	return kubernetes.NewProvider(ctx, "kubernetes", args, opts...)
}

func optionalString(s string) pulumi.StringPtrInput {
	if s == "" {
		return nil
	}
	return pulumi.String(s)
}
