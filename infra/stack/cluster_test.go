package stack_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/stack"
)

func TestTheProgramRunsEveryCommittedStack(t *testing.T) {
	for _, name := range committedStacks {
		d := &declared{}
		err := pulumi.RunErr(stack.Program, pulumi.WithMocks("tinjis", name, d), withConfig(committedConfig(t, name), nil))
		if err != nil {
			t.Errorf("stack %s: %v", name, err)
		}
		if len(d.ofType(typeDeployment)) != 2 {
			t.Errorf("stack %s declares %d Deployments, want Antaeus and payments", name, len(d.ofType(typeDeployment)))
		}
	}
}

func TestEveryObjectGoesThroughTheStacksOwnProvider(t *testing.T) {
	for _, name := range committedStacks {
		d := mustDeploy(t, name)
		providers := d.ofType(typeProvider)
		if len(providers) != 1 {
			t.Fatalf("stack %s declares %d Kubernetes providers, want 1", name, len(providers))
		}
		want := manifestsOf(t, d).config.Kubernetes.Context
		if got := stringInput(providers[0].inputs, "context"); got != want {
			t.Errorf("stack %s: provider context %q, want %q from the stack config", name, got, want)
		}
		for _, r := range d.declared.resources {
			if r.typ == typeProvider || !strings.HasPrefix(r.typ, "kubernetes:") {
				continue
			}
			if r.provider == "" || !strings.Contains(r.provider, "pulumi:providers:kubernetes::kubernetes") {
				t.Errorf("stack %s: %s %s uses provider %q, not the stack's own", name, r.typ, r.name, r.provider)
			}
		}
	}
}

func TestTheProviderIsNamedForItsClusterNotForTheKubeconfig(t *testing.T) {
	for _, tc := range []struct {
		name       string
		kubernetes string
		want       string
	}{
		{"by default the environment names the cluster", `{"context":"kind-tinjis"}`, "dev"},
		{"a stack may name its cluster itself", `{"context":"kind-tinjis","clusterIdentifier":"kind-tinjis-laptop"}`, "kind-tinjis-laptop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := deploy(t, "dev", committedConfig(t, "dev").with(t, config.KeyKubernetes, nil, tc.kubernetes))
			if err != nil {
				t.Fatal(err)
			}
			if got := stringInput(d.ofType(typeProvider)[0].inputs, "clusterIdentifier"); got != tc.want {
				t.Errorf("provider clusterIdentifier %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRenderingManifestsNeedsNoCluster(t *testing.T) {
	// The provider refuses a kubeconfig next to renderYamlToDirectory, and its
	// SDK fills a kubeconfig from KUBECONFIG when the program gives none.
	t.Setenv("KUBECONFIG", "/home/someone/.kube/config")
	cfg := committedConfig(t, "dev").with(t, config.KeyKubernetes, nil, `{"renderYamlToDirectory":"rendered/dev"}`)
	d, err := deploy(t, "dev", cfg)
	if err != nil {
		t.Fatalf("a stack with only renderYamlToDirectory is refused: %v", err)
	}
	providers := d.ofType(typeProvider)
	if got := stringInput(providers[0].inputs, "renderYamlToDirectory"); got != "rendered/dev" {
		t.Errorf("provider renderYamlToDirectory %q, want rendered/dev", got)
	}
	for _, key := range []string{"kubeconfig", "context"} {
		if got := stringInput(providers[0].inputs, key); got != "" {
			t.Errorf("provider %s %q, want none", key, got)
		}
	}
}

func stringInput(inputs resource.PropertyMap, key string) string {
	v, ok := inputs[resource.PropertyKey(key)]
	if !ok || !v.IsString() {
		return ""
	}
	return v.StringValue()
}
