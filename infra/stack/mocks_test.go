package stack_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/tinjis/tinjis/infra/stack"
	"github.com/tinjis/tinjis/internal/stackfile"
)

// repoRoot holds Pulumi.yaml and the committed stack files.
const repoRoot = "../.."

// committedStacks are the stacks whose files are in the repository.
var committedStacks = stackfile.MustCommitted(repoRoot)

// Resource types as the Kubernetes provider names them.
const (
	typeProvider       = "pulumi:providers:kubernetes"
	typeNamespace      = "kubernetes:core/v1:Namespace"
	typeDeployment     = "kubernetes:apps/v1:Deployment"
	typeService        = "kubernetes:core/v1:Service"
	typeIngress        = "kubernetes:networking.k8s.io/v1:Ingress"
	typeHTTPRoute      = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
	typeNetworkPolicy  = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	typeRole           = "kubernetes:rbac.authorization.k8s.io/v1:Role"
	typeRoleBinding    = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
	typeDisruptionBudg = "kubernetes:policy/v1:PodDisruptionBudget"
	typeSecret         = "kubernetes:core/v1:Secret"
)

// declared is a mock resource monitor that records every resource the
// program declares and echoes its inputs back as its outputs.
type declared struct {
	mu        sync.Mutex
	resources []declaredResource
}

type declaredResource struct {
	typ, name, provider string
	inputs              resource.PropertyMap
	// parent and dependencies are URNs: the component the resource belongs
	// to, and the resources whose outputs its inputs take (or that it
	// depends on explicitly), which Pulumi waits for before creating it.
	parent       string
	dependencies []string
}

func (d *declared) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.resources = append(d.resources, declaredResource{
		typ: args.TypeToken, name: args.Name, provider: args.Provider, inputs: args.Inputs,
		parent: args.RegisterRPC.GetParent(), dependencies: args.RegisterRPC.GetDependencies(),
	})
	return args.Name + "-id", args.Inputs, nil
}

func (d *declared) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return args.Args, nil
}

// dependsOn reports whether r waits for a resource of type typ named name.
func (r declaredResource) dependsOn(typ, name string) bool {
	return slices.ContainsFunc(r.dependencies, func(dependency string) bool {
		urn := resource.URN(dependency)
		return string(urn.Type()) == typ && urn.Name() == name
	})
}

// ofType returns the declared resources of one type, in declaration order.
func (d *declared) ofType(typ string) []declaredResource {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []declaredResource
	for _, r := range d.resources {
		if r.typ == typ {
			out = append(out, r)
		}
	}
	return out
}

func (d *declared) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.resources)
}

// objects decodes every declared resource of one type into its Kubernetes
// API type, T.
func objects[T any](t *testing.T, d *declared, typ string) []T {
	t.Helper()
	var out []T
	for _, r := range d.ofType(typ) {
		raw, err := json.Marshal(reveal(resource.NewObjectProperty(r.inputs)).Mappable())
		if err != nil {
			t.Fatalf("%s %s: %v", typ, r.name, err)
		}
		var obj T
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatalf("%s %s does not decode as %T: %v", typ, r.name, obj, err)
		}
		out = append(out, obj)
	}
	return out
}

// reveal replaces every secret by its value, as the provider sees it.
func reveal(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return reveal(v.SecretValue().Element)
	case v.IsObject():
		m := resource.PropertyMap{}
		for k, e := range v.ObjectValue() {
			m[k] = reveal(e)
		}
		return resource.NewObjectProperty(m)
	case v.IsArray():
		a := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			a[i] = reveal(e)
		}
		return resource.NewArrayProperty(a)
	}
	return v
}

// stackConfig is a stack's configuration as the engine hands it to the
// program: one string per key, structured values as JSON.
type stackConfig map[string]string

// committedConfig loads Pulumi.<stack>.yaml with Pulumi's own loader.
func committedConfig(t *testing.T, stackName string) stackConfig {
	t.Helper()
	values, err := stackfile.Load(repoRoot, stackName)
	if err != nil {
		t.Fatal(err)
	}
	return values.Map()
}

// with returns a copy of the config with one value set at a path inside a
// structured key ("replicas" of "tinjis:antaeus"), or the whole key when
// the path is empty. A nil value removes it.
func (c stackConfig) with(t *testing.T, key string, path []string, value any) stackConfig {
	t.Helper()
	out := stackConfig{}
	for k, v := range c {
		out[k] = v
	}
	if len(path) == 0 {
		if value == nil {
			delete(out, key)
		} else {
			out[key] = fmt.Sprint(value)
		}
		return out
	}
	var root any = map[string]any{}
	if raw, ok := c[key]; ok {
		if err := json.Unmarshal([]byte(raw), &root); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	setPath(t, root, path, value)
	raw, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	out[key] = string(raw)
	return out
}

func setPath(t *testing.T, node any, path []string, value any) {
	t.Helper()
	object, ok := node.(map[string]any)
	if !ok {
		t.Fatalf("cannot set %v inside %T", path, node)
	}
	if len(path) == 1 {
		if value == nil {
			delete(object, path[0])
		} else {
			object[path[0]] = value
		}
		return
	}
	child, ok := object[path[0]]
	if !ok {
		child = map[string]any{}
		object[path[0]] = child
	}
	setPath(t, child, path[1:], value)
}

// deployment is one run of the program against the mocks.
type deployment struct {
	*declared
	stack   string
	config  mapSource
	outputs map[string]any
}

// deploy runs the program for a stack with the given configuration.
// secretKeys are the keys the engine would mark secret.
func deploy(t *testing.T, stackName string, cfg stackConfig, secretKeys ...string) (deployment, error) {
	t.Helper()
	d := deployment{declared: &declared{}, stack: stackName, config: mapSource{values: cfg, secretKeys: secretKeys}}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		outputs, err := stack.Declare(ctx)
		if err != nil {
			return err
		}
		resolved, err := internals.UnsafeAwaitOutput(ctx.Context(), outputs.ToMapOutput())
		if err != nil {
			return err
		}
		d.outputs, _ = resolved.Value.(map[string]any)
		return nil
	}, pulumi.WithMocks("tinjis", stackName, d.declared), withConfig(cfg, secretKeys))
	return d, err
}

// withConfig hands the program the stack's configuration, as the engine
// would.
func withConfig(cfg stackConfig, secretKeys []string) pulumi.RunOption {
	return func(info *pulumi.RunInfo) {
		info.Config = cfg
		info.ConfigSecretKeys = secretKeys
	}
}

// mustDeploy runs the program for a committed stack and fails the test on
// any error.
func mustDeploy(t *testing.T, stackName string) deployment {
	t.Helper()
	d, err := deploy(t, stackName, committedConfig(t, stackName))
	if err != nil {
		t.Fatalf("stack %s: %v", stackName, err)
	}
	return d
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// equalJSON compares two values by their JSON form, so nil and empty
// slices of Kubernetes types compare equal.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	normal := func(v any) string {
		s := mustJSON(t, v)
		if s == "null" || s == "[]" {
			return ""
		}
		return s
	}
	return normal(a) == normal(b)
}

// all returns every declared resource, in declaration order.
func (d *declared) all() []declaredResource {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]declaredResource(nil), d.resources...)
}
