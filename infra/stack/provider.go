package stack

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
)

// newProvider is the only way resources reach a cluster: the kubeconfig and
// context the stack names, or no cluster at all when it renders manifests.
func newProvider(ctx *pulumi.Context, k config.Kubernetes, opts ...pulumi.ResourceOption) (*kubernetes.Provider, error) {
	return kubernetes.NewProvider(ctx, "kubernetes", &kubernetes.ProviderArgs{
		Kubeconfig:            optionalString(k.Kubeconfig),
		Context:               optionalString(k.Context),
		RenderYamlToDirectory: optionalString(k.RenderYamlToDirectory),
	}, opts...)
}

func optionalString(s string) pulumi.StringPtrInput {
	if s == "" {
		return nil
	}
	return pulumi.String(s)
}
