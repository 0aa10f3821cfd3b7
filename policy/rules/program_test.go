package rules

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/stack"
	"github.com/tinjis/tinjis/internal/stackfile"
)

// repoRoot holds Pulumi.yaml and the committed stack files.
const repoRoot = "../.."

// committedStacks are the stacks whose files are in the repository.
var committedStacks = stackfile.MustCommitted(repoRoot)

// recorder is a mock resource monitor that records every resource the
// program declares, as the engine would hand it to the pack at preview.
type recorder struct {
	mu        sync.Mutex
	stack     string
	resources []policyx.AnalyzerResource
}

func (r *recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resources = append(r.resources, policyx.AnalyzerResource{
		Type:       args.TypeToken,
		Name:       args.Name,
		URN:        urnOf(r.stack, args.TypeToken, args.Name),
		Properties: resource.FromResourcePropertyMap(args.Inputs),
	})
	return args.Name + "-id", args.Inputs, nil
}

func (r *recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return args.Args, nil
}

func urnOf(stackName, typ, name string) string {
	return fmt.Sprintf("urn:pulumi:%s::tinjis::%s::%s", stackName, typ, name)
}

// declaredStack is what the real program declares for a stack, and the
// stack's intent.
type declaredStack struct {
	intent    Intent
	resources []policyx.AnalyzerResource
}

// declare runs the program (infra/stack) against mocks for a committed
// stack, with its committed config.
func declare(t *testing.T, stackName string) declaredStack {
	t.Helper()
	values := committedConfig(t, stackName)
	rec := &recorder{stack: stackName}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := stack.Declare(ctx)
		return err
	}, pulumi.WithMocks("tinjis", stackName, rec), func(info *pulumi.RunInfo) { info.Config = values })
	if err != nil {
		t.Fatalf("the program for stack %s: %v", stackName, err)
	}
	cfg, err := config.Load(stackName, mapSource(values))
	if err != nil {
		t.Fatal(err)
	}
	return declaredStack{intent: Intent{Config: cfg}, resources: rec.resources}
}

type mapSource map[string]string

func (m mapSource) GetConfig(key string) (string, bool) { v, ok := m[key]; return v, ok }
func (m mapSource) IsConfigSecret(string) bool          { return false }

// committedConfig loads Pulumi.<stack>.yaml with Pulumi's own loader.
func committedConfig(t *testing.T, stackName string) map[string]string {
	t.Helper()
	values, err := stackfile.Load(repoRoot, stackName)
	if err != nil {
		t.Fatal(err)
	}
	return values.Map()
}

// finding is one violation, as the preview would report it.
type finding struct {
	rule, urn, message string
}

func (f finding) String() string { return f.rule + " on " + f.urn + ": " + f.message }

// check runs every rule of the pack, as the engine does at preview: the
// resource rules on each resource, the stack rules on all of them.
func check(in Intent, resources []policyx.AnalyzerResource) []finding {
	var found []finding
	for _, r := range resources {
		for _, rule := range resourceRules {
			for _, m := range rule.check(in, r) {
				found = append(found, finding{rule.name, r.URN, m})
			}
		}
	}
	for _, rule := range stackRules {
		for _, v := range rule.check(in, resources) {
			found = append(found, finding{rule.name, v.urn, v.message})
		}
	}
	return found
}

// find returns the resource of the type whose name (the program's
// logical name) is name.
func (s declaredStack) find(t *testing.T, typ, name string) int {
	t.Helper()
	i := slices.IndexFunc(s.resources, func(r policyx.AnalyzerResource) bool { return r.Type == typ && r.Name == name })
	if i < 0 {
		t.Fatalf("the program declares no %s named %s", typ, name)
	}
	return i
}

// edit changes the declared object of the type and name through a plain
// map, as a change to the program would.
func (s *declaredStack) edit(t *testing.T, typ, name string, change func(obj map[string]any)) {
	t.Helper()
	i := s.find(t, typ, name)
	o := newObject(s.resources[i])
	change(o.plain)
	s.resources[i].Properties = propertyMap(t, o.plain)
}

// remove drops the declared object of the type and name.
func (s *declaredStack) remove(t *testing.T, typ, name string) {
	t.Helper()
	i := s.find(t, typ, name)
	s.resources = slices.Delete(s.resources, i, i+1)
}

// add declares one more object, given as a typed Kubernetes object.
func (s *declaredStack) add(t *testing.T, typ, name string, obj any) string {
	t.Helper()
	plain, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	urn := urnOf(s.intent.Config.Environment, typ, name)
	s.resources = append(s.resources, policyx.AnalyzerResource{Type: typ, Name: name, URN: urn, Properties: propertyMap(t, plain)})
	return urn
}

// unknown makes the value at path (such as spec.ingress) of the object
// unknown, as values computed by the provider or taken from another
// resource's outputs are at preview.
func (s *declaredStack) unknown(t *testing.T, typ, name, path string) {
	t.Helper()
	i := s.find(t, typ, name)
	var p property.Path
	if err := p.UnmarshalText([]byte(path)); err != nil {
		t.Fatal(err)
	}
	v, err := p.Set(property.New(s.resources[i].Properties), property.New(property.Computed))
	if err != nil {
		t.Fatalf("%s of %s %s: %v", path, typ, name, err)
	}
	s.resources[i].Properties = v.AsMap()
}

func propertyMap(t *testing.T, plain map[string]any) property.Map {
	t.Helper()
	return resource.FromResourcePropertyMap(resource.NewPropertyMapFromMap(plain))
}

// messages lists findings one a line, for failure output.
func messages(found []finding) string {
	var b strings.Builder
	for _, f := range found {
		fmt.Fprintln(&b, f)
	}
	return b.String()
}
