package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/integration/internal/pulumistack"
)

// TestRenderedManifests runs every committed stack with the render switch
// on, through the real engine and provider with no cluster at all, and
// checks the YAML a reviewer would read: one file per object in the stack's
// state, holding what the platform promises. Its previews run the policy
// pack: the committed stacks pass it, and programs that break a rule fail.
func TestRenderedManifests(t *testing.T) {
	// A user's KUBECONFIG, seen by the inline program as `pulumi up` hands it
	// to the program: rendering must not pick it up.
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "users-kubeconfig"))
	pack := buildPolicyPack(t)
	caught := newPolicyTable()
	defer caught.log(t)
	for _, name := range committedStacks {
		t.Run(name, func(t *testing.T) {
			started := time.Now()
			dir := t.TempDir()
			s := &liveStack{name: name, stack: pulumistack.New(t, name)}
			pulumistack.Apply(t, s.stack, renderOnly(dir)...)
			s.cfg = loadConfig(t, s)

			// The preview runs the policy pack: the committed stack passes
			// every rule.
			if seen, out, err := previewWithPack(t, s.stack, pack); err != nil || len(seen) > 0 {
				t.Fatalf("pulumi preview %s with no cluster and the policy pack: %v; policy events: %v\n%s", name, err, seen, out)
			}
			var out bytes.Buffer
			if _, err := s.stack.Up(t.Context(), optup.ProgressStreams(&out)); err != nil {
				t.Fatalf("pulumi up %s rendering to %s: %v\n%s", name, dir, err, out.String())
			}
			t.Logf("preview and render of %s: %s", name, time.Since(started).Round(time.Millisecond))

			objects, err := pulumistack.Objects(t.Context(), s.stack)
			if err != nil {
				t.Fatal(err)
			}
			files, err := filepath.Glob(filepath.Join(dir, "1-manifest", "*.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != len(objects) {
				t.Errorf("rendered %d files for the %d objects in the stack's state", len(files), len(objects))
			}
			m := &manifests{}
			for _, file := range files {
				u := readManifest(t, file)
				if err := m.add(u); err != nil {
					t.Fatal(err)
				}
			}
			checkDeclaredStack(t, s.cfg, m)

			t.Run("the policy pack fails a preview that breaks a rule", func(t *testing.T) {
				checkPolicyFixtures(t, s.stack, name, pack, caught)
			})
			if name == "dev" {
				t.Run("preview time with the policy pack and without", func(t *testing.T) {
					measurePreviewTime(t, s.stack, pack)
				})
			}
		})
	}
}

// renderOnly are the overrides `make render` applies: no cluster named,
// the manifests written to dir.
func renderOnly(dir string) []pulumistack.Override {
	return []pulumistack.Override{
		{Path: config.KeyKubernetes + ".context"},
		{Path: config.KeyKubernetes + ".kubeconfig"},
		{Path: config.KeyKubernetes + ".renderYamlToDirectory", Value: dir},
	}
}

func readManifest(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		t.Fatalf("%s is not YAML: %v", filepath.Base(path), err)
	}
	if u.GetKind() == "" || u.GetName() == "" {
		t.Fatalf("%s is not a Kubernetes object", filepath.Base(path))
	}
	return u
}
