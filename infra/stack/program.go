// Package stack is the tinjis Pulumi program: Antaeus and the payment
// provider it calls, deployed per stack to Kubernetes.
package stack

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
)

// Program is what `pulumi up` runs: it declares the stack and exports its
// outputs.
func Program(ctx *pulumi.Context) error {
	outputs, err := Declare(ctx)
	if err != nil {
		return err
	}
	for name, value := range outputs {
		ctx.Export(name, value)
	}
	return nil
}

// Declare reads and validates the stack's configuration, then declares the
// environment it describes and returns the stack outputs by name. Nothing
// is declared when the configuration is invalid.
func Declare(ctx *pulumi.Context) (pulumi.Map, error) {
	cfg, err := config.Load(ctx.Stack(), ctx)
	if err != nil {
		return nil, err
	}
	tinjis, err := NewTinjis(ctx, "tinjis", cfg)
	if err != nil {
		return nil, err
	}
	return pulumi.Map{
		"antaeusUrl":        tinjis.Antaeus.URL,
		"paymentsEndpoint":  tinjis.Payments.Endpoint,
		"antaeusNamespace":  tinjis.AntaeusNamespace,
		"paymentsNamespace": tinjis.PaymentsNamespace,
		"deployers":         deployers(cfg),
	}, nil
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
