// Package pulumistack runs a committed tinjis stack through the real Pulumi
// engine and the real Kubernetes provider (the binaries tools/build.sh
// builds), with the program inline: the Go language host is not needed.
//
// Each stack runs on copies of Pulumi.yaml and Pulumi.<stack>.yaml in a
// temporary directory, with a local file:// backend, so the engine never
// writes into the working tree and no Pulumi Cloud account is needed.
package pulumistack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/tinjis/tinjis/infra/stack"
	"github.com/tinjis/tinjis/integration/internal/repo"
)

// Project is the Pulumi project name in Pulumi.yaml.
const Project = "tinjis"

// Passphrase encrypts the test stacks' secrets; it protects nothing.
const Passphrase = "tinjis-integration-tests"

// QuickStartStack is the README's stack. Its committed encryptionsalt
// belongs to the empty passphrase, which `make up` uses: the tests run it
// with that salt and passphrase, as a reviewer does, so the engine would
// fail on a salt of another passphrase and never needs to write one.
const QuickStartStack = "local"

// Override replaces one config value of the committed stack file, by path
// (e.g. "tinjis:kubernetes.kubeconfig"), for this test only.
type Override struct {
	Path  string
	Value string
}

// New selects (creating it) the committed stack name in a fresh temporary
// workspace. The stack file the engine reads is a copy of the committed one.
func New(t testing.TB, name string) auto.Stack {
	t.Helper()
	ctx := t.Context()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	pulumi, err := repo.Tool("pulumi")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Tool("pulumi-resource-kubernetes"); err != nil {
		t.Fatal(err)
	}
	workDir := t.TempDir()
	copyFile(t, filepath.Join(root, "Pulumi.yaml"), filepath.Join(workDir, "Pulumi.yaml"), nil)
	stackFile := "Pulumi." + name + ".yaml"
	passphrase, salt := Passphrase, withoutEncryptionSalt
	if name == QuickStartStack {
		passphrase, salt = "", nil
	}
	copyFile(t, filepath.Join(root, stackFile), filepath.Join(workDir, stackFile), salt)
	// Pulumi.yaml's main: must exist, though the inline program replaces it.
	if err := os.MkdirAll(filepath.Join(workDir, "infra"), 0o755); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	backend := filepath.Join(stateDir, "backend")
	if err := os.Mkdir(backend, 0o700); err != nil {
		t.Fatal(err)
	}
	command, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{
		Root: filepath.Dir(filepath.Dir(pulumi)),
		// Built from source and stamped with the SDK's version; the check
		// would compare it against the SDK's expectation anyway.
		SkipVersionCheck: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := auto.UpsertStackInlineSource(ctx, name, Project, stack.Program,
		auto.WorkDir(workDir),
		auto.Pulumi(command),
		auto.PulumiHome(filepath.Join(stateDir, "home")),
		auto.EnvVars(map[string]string{
			"PULUMI_BACKEND_URL":       "file://" + backend,
			"PULUMI_CONFIG_PASSPHRASE": passphrase,
			"PULUMI_SKIP_UPDATE_CHECK": "true",
			// The engine finds the provider plugin on PATH (ambient plugins).
			"PATH": filepath.Dir(pulumi) + string(os.PathListSeparator) + os.Getenv("PATH"),
			// Nothing may reach a cluster the stack does not name.
			"KUBECONFIG": filepath.Join(stateDir, "no-ambient-kubeconfig"),
		}),
	)
	if err != nil {
		t.Fatalf("select stack %s: %v", name, err)
	}
	return s
}

// Apply sets each override in the stack's (copied) stack file; an empty
// Value removes the key.
func Apply(t testing.TB, s auto.Stack, overrides ...Override) {
	t.Helper()
	for _, o := range overrides {
		var err error
		if o.Value == "" {
			if _, getErr := s.GetConfigWithOptions(t.Context(), o.Path, &auto.ConfigOptions{Path: true}); getErr != nil {
				continue // not set: nothing to remove
			}
			err = s.RemoveConfigWithOptions(t.Context(), o.Path, &auto.ConfigOptions{Path: true})
		} else {
			err = s.SetConfigWithOptions(t.Context(), o.Path, auto.ConfigValue{Value: o.Value}, &auto.ConfigOptions{Path: true})
		}
		if err != nil {
			t.Fatalf("override %s: %v", o.Path, err)
		}
	}
}

// copyFile copies from to to, through edit unless it is nil.
func copyFile(t testing.TB, from, to string, edit func(testing.TB, []byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatalf("the committed stack needs %s: %v", filepath.Base(from), err)
	}
	if edit != nil {
		data = edit(t, data)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

var encryptionSaltLine = regexp.MustCompile(`(?m)^encryptionsalt:.*\n?`)

// withoutEncryptionSalt drops the salt of the team's passphrase, if the
// stack file has one: the tests encrypt with their own Passphrase, and the
// engine writes a salt for it. Committed secrets cannot be read with it.
func withoutEncryptionSalt(t testing.TB, stackFile []byte) []byte {
	t.Helper()
	if bytes.Contains(stackFile, []byte("secure:")) {
		t.Fatal("the committed stack file holds secrets encrypted for the team's passphrase; " +
			"the tests cannot decrypt them: keep test-time values out of the committed stack files")
	}
	return encryptionSaltLine.ReplaceAll(stackFile, nil)
}

// ConfigSource reads a stack's config the way the program does, so tests
// derive what they expect from the same values.
type ConfigSource auto.ConfigMap

// Config returns the stack's config, overrides included.
func Config(t testing.TB, s auto.Stack) ConfigSource {
	t.Helper()
	all, err := s.GetAllConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return ConfigSource(all)
}

// GetConfig returns the value of a full key such as "tinjis:developers".
func (c ConfigSource) GetConfig(key string) (string, bool) {
	v, ok := c[key]
	return v.Value, ok
}

// IsConfigSecret reports whether the key holds a secret.
func (c ConfigSource) IsConfigSecret(key string) bool { return c[key].Secret }

// ConfigKeys lists every key, so config.Load refuses those it does not read.
func (c ConfigSource) ConfigKeys() []string { return slices.Collect(maps.Keys(c)) }

// Object is a Kubernetes object the stack's state holds.
type Object struct {
	// Type is the Pulumi type token, e.g. kubernetes:apps/v1:Deployment.
	Type       string
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
}

func (o Object) String() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// Objects lists every Kubernetes object in the stack's state: what the
// program declared and the engine created.
func Objects(ctx context.Context, s auto.Stack) ([]Object, error) {
	exported, err := s.Export(ctx)
	if err != nil {
		return nil, err
	}
	var deployment apitype.DeploymentV3
	if err := json.Unmarshal(exported.Deployment, &deployment); err != nil {
		return nil, fmt.Errorf("read the state of stack %s: %w", s.Name(), err)
	}
	var objects []Object
	for _, r := range deployment.Resources {
		if !r.Custom || !strings.HasPrefix(string(r.Type), "kubernetes:") || r.Delete {
			continue
		}
		var o struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		raw, err := json.Marshal(r.Outputs)
		if err != nil {
			return nil, err
		}
		if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&o); err != nil {
			return nil, fmt.Errorf("read %s from the state: %w", r.URN, err)
		}
		objects = append(objects, Object{
			Type: string(r.Type), APIVersion: o.APIVersion, Kind: o.Kind,
			Namespace: o.Metadata.Namespace, Name: o.Metadata.Name,
		})
	}
	return objects, nil
}

// EncryptionSalt returns the encryptionsalt line of the stack's (copied)
// stack file, or "" when it has none.
func EncryptionSalt(t testing.TB, s auto.Stack) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.Workspace().WorkDir(), "Pulumi."+s.Name()+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(encryptionSaltLine.Find(data)))
}
