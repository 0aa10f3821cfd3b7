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
	return tinjis.Outputs, nil
}
