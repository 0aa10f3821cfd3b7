package stack

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
)

// Tinjis is one environment: Antaeus, the payment provider it calls, and
// the provider that puts them on a cluster.
type Tinjis struct {
	pulumi.ResourceState

	Payments *Payments
	Antaeus  *Antaeus
	// The namespaces, as the cluster named them.
	PaymentsNamespace pulumi.StringOutput
	AntaeusNamespace  pulumi.StringOutput
}

// NewTinjis declares the whole environment described by cfg.
func NewTinjis(ctx *pulumi.Context, name string, cfg config.Config, opts ...pulumi.ResourceOption) (*Tinjis, error) {
	t := &Tinjis{}
	if err := ctx.RegisterComponentResource("tinjis:index:Tinjis", name, t, opts...); err != nil {
		return nil, err
	}
	provider, err := newProvider(ctx, cfg.Kubernetes, pulumi.Parent(t))
	if err != nil {
		return nil, err
	}
	// Children inherit the provider from their parent, all the way down.
	inCluster := []pulumi.ResourceOption{pulumi.Parent(t), pulumi.Provider(provider)}

	payments, antaeus := paymentsWorkload(cfg.Environment), antaeusWorkload(cfg.Environment)
	paymentsNamespace, err := newNamespace(ctx, payments, podSecurityRestricted, inCluster...)
	if err != nil {
		return nil, err
	}
	antaeusNamespace, err := newNamespace(ctx, antaeus, antaeusPodSecurity(cfg.Antaeus.Flavor), inCluster...)
	if err != nil {
		return nil, err
	}

	t.PaymentsNamespace = paymentsNamespace.Metadata.Name().Elem()
	t.AntaeusNamespace = antaeusNamespace.Metadata.Name().Elem()

	t.Payments, err = NewPayments(ctx, payments.name(), &PaymentsArgs{
		Config:        cfg.Payments,
		AuthToken:     pulumi.ToSecret(pulumi.String(cfg.Payments.AuthToken)).(pulumi.StringOutput),
		Namespace:     paymentsNamespace,
		Workload:      payments,
		ClusterDomain: cfg.Kubernetes.ClusterDomain,
		Client:        peer{namespace: t.AntaeusNamespace, workload: antaeus},
		DeployRights:  deployRightsOf(cfg, payments.service, cfg.Payments.Image),
	}, inCluster...)
	if err != nil {
		return nil, err
	}

	t.Antaeus, err = NewAntaeus(ctx, antaeus.name(), &AntaeusArgs{
		Config:           cfg.Antaeus,
		Expose:           cfg.Expose,
		Namespace:        antaeusNamespace,
		Workload:         antaeus,
		PaymentsEndpoint: t.Payments.Endpoint,
		Payments:         peer{namespace: t.PaymentsNamespace, workload: payments},
		DeployRights:     deployRightsOf(cfg, antaeus.service, cfg.Antaeus.Image),
	}, inCluster...)
	if err != nil {
		return nil, err
	}

	if err := ctx.RegisterResourceOutputs(t, pulumi.Map{
		"antaeusUrl":        t.Antaeus.URL,
		"paymentsEndpoint":  t.Payments.Endpoint,
		"antaeusNamespace":  t.AntaeusNamespace,
		"paymentsNamespace": t.PaymentsNamespace,
	}); err != nil {
		return nil, err
	}
	return t, nil
}

// antaeusPodSecurity is the strictest Pod Security level the flavor's image
// can run under: the stock image runs as root.
func antaeusPodSecurity(f config.Flavor) podSecurityLevel {
	if f.RunsAsRoot() {
		return podSecurityBaseline
	}
	return podSecurityRestricted
}
