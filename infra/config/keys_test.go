package config_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
)

func TestAKeyTheProgramDoesNotReadIsRefusedNamingTheNearestOne(t *testing.T) {
	for _, tc := range []struct {
		name       string
		key, value string
		want       string
	}{
		{"a misspelt top-level key", "tinjis:highAvailabilty", "true",
			"tinjis:highAvailabilty is not a setting of this program: did you mean tinjis:highAvailability?"},
		{"a misspelt object key is named, not the setting it left unset", "tinjis:expos", `{"mode":"nodePort"}`,
			"tinjis:expos is not a setting of this program: did you mean tinjis:expose?"},
		{"a key in another case", "tinjis:Payments", `{"replicas":2}`,
			"tinjis:Payments is not a setting of this program: did you mean tinjis:payments?"},
		{"a misspelt field inside an object is refused by the strict decoding", config.KeyPayments,
			`{"image":"ghcr.io/tinjis/tinjis/payments:main","replics":2}`,
			`tinjis:payments has no field "replics"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := minimal()
			if tc.key == "tinjis:expos" {
				delete(v, config.KeyExpose)
			}
			v[tc.key] = tc.value

			_, err := config.Load("dev", v)

			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v\nwant exactly %q", err, tc.want)
			}
		})
	}
}

func TestKeysOfOtherNamespacesAreLeftToTheirOwners(t *testing.T) {
	v := minimal()
	v["kubernetes:context"] = "kind-tinjis"
	v["pulumi:template"] = "kubernetes-go"

	if _, err := config.Load("dev", v); err != nil {
		t.Errorf("Load: %v", err)
	}
}

// TestTheProgramSeesEveryKeyOfItsContext runs Load on a real
// *pulumi.Context, given the config as the Automation API's inline
// programs get it (the run's RunInfo) and as `pulumi up` gives it to a Go
// program (PULUMI_CONFIG, set by the Go language host).
func TestTheProgramSeesEveryKeyOfItsContext(t *testing.T) {
	stackConfig := minimal()
	stackConfig["tinjis:highAvailabilty"] = "true"
	const want = "tinjis:highAvailabilty is not a setting of this program: did you mean tinjis:highAvailability?"
	encoded, err := json.Marshal(stackConfig)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		env     string
		options []pulumi.RunOption
	}{
		{"the engine's run request (inline programs)", "", []pulumi.RunOption{func(info *pulumi.RunInfo) { info.Config = stackConfig }}},
		{"PULUMI_CONFIG (the Go language host under pulumi up)", string(encoded), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(pulumi.EnvConfig, tc.env)
			var loadErr error
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				_, loadErr = config.Load(ctx.Stack(), ctx)
				return nil
			}, append(tc.options, pulumi.WithMocks("tinjis", "dev", noResources{}))...)
			if err != nil {
				t.Fatal(err)
			}
			if loadErr == nil || !strings.Contains(loadErr.Error(), want) {
				t.Errorf("Load on a *pulumi.Context: %v\nwant %q", loadErr, want)
			}
		})
	}
}

type noResources struct{}

func (noResources) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	return args.Name, args.Inputs, nil
}

func (noResources) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return args.Args, nil
}
