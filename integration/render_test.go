package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/integration/internal/pulumistack"
)

// TestRenderedManifests runs every committed stack with the render switch
// on, through the real engine and provider with no cluster at all, and
// checks the YAML a reviewer would read: one file per object in the stack's
// state, holding what the platform promises.
func TestRenderedManifests(t *testing.T) {
	// A user's KUBECONFIG, seen by the inline program as `pulumi up` hands it
	// to the program: rendering must not pick it up.
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "users-kubeconfig"))
	for _, name := range committedStacks {
		t.Run(name, func(t *testing.T) {
			started := time.Now()
			dir := t.TempDir()
			s := &liveStack{name: name, stack: pulumistack.New(t, name)}
			pulumistack.Apply(t, s.stack, renderOnly(dir)...)
			s.cfg = loadConfig(t, s)

			var out bytes.Buffer
			if _, err := s.stack.Preview(t.Context(), optpreview.ProgressStreams(&out)); err != nil {
				t.Fatalf("pulumi preview %s with no cluster: %v\n%s", name, err, out.String())
			}
			out.Reset()
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
