package stack

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/outputs"
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
	// Outputs are the stack's outputs, by the names package outputs gives.
	Outputs pulumi.Map
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

	if cfg.ClusterGuards != nil {
		if _, err := NewClusterGuards(ctx, cfg.Environment, *cfg.ClusterGuards, inCluster...); err != nil {
			return nil, err
		}
	}

	// Neither service waits on the other: each refers to the other by the
	// names the program gives it (its namespace, its Service's URL), never by
	// outputs of the other's resources, so both roll out at once.
	payments, antaeus := paymentsWorkload(cfg.Environment), antaeusWorkload(cfg.Environment, cfg.Antaeus.Flavor)
	paymentsNamespace, err := newNamespace(ctx, payments, inCluster...)
	if err != nil {
		return nil, err
	}
	antaeusNamespace, err := newNamespace(ctx, antaeus, inCluster...)
	if err != nil {
		return nil, err
	}

	t.PaymentsNamespace = paymentsNamespace.Metadata.Name().Elem()
	t.AntaeusNamespace = antaeusNamespace.Metadata.Name().Elem()

	t.Payments, err = NewPayments(ctx, payments.name(), &PaymentsArgs{
		Config:           cfg.Payments,
		HighAvailability: cfg.HighAvailability,
		Namespace:        paymentsNamespace,
		Workload:         payments,
		ClusterDomain:    cfg.Kubernetes.ClusterDomain,
		Client:           peerOf(antaeus),
		DeployRights:     deployRightsOf(cfg, payments.service, cfg.Payments.Image),
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
		Payments:         peerOf(payments),
		DeployRights:     deployRightsOf(cfg, antaeus.service, cfg.Antaeus.Image),
	}, inCluster...)
	if err != nil {
		return nil, err
	}

	t.Outputs = pulumi.Map{
		outputs.AntaeusURL:        t.Antaeus.URL,
		outputs.PaymentsEndpoint:  t.Payments.Endpoint,
		outputs.AntaeusNamespace:  t.AntaeusNamespace,
		outputs.PaymentsNamespace: t.PaymentsNamespace,
		outputs.Deployers:         deployers(cfg),
	}
	if err := ctx.RegisterResourceOutputs(t, t.Outputs); err != nil {
		return nil, err
	}
	return t, nil
}

// peerOf is w as the other service's NetworkPolicies name it.
func peerOf(w workload) peer {
	return peer{namespace: pulumi.String(w.namespace()), workload: w}
}

// deployers maps each developer to the services they may deploy, as the
// RoleBindings grant it.
func deployers(cfg config.Config) pulumi.StringArrayMap {
	m := pulumi.StringArrayMap{}
	for _, d := range cfg.Developers {
		services := make(pulumi.StringArray, len(d.Services))
		for i, s := range d.Services {
			services[i] = pulumi.String(s)
		}
		m[d.Name] = services
	}
	return m
}
