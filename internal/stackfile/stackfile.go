// Package stackfile reads a committed Pulumi.<stack>.yaml with Pulumi's own
// loader, as the engine hands its config to the program, so that tools and
// tests can load it with config.Load before any Pulumi runs.
package stackfile

import (
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

// Values is a stack file's config as the engine hands it to the
// program: each key's value as text, objects and lists as JSON.
type Values struct {
	values  map[string]string
	secrets []string
}

func (s Values) GetConfig(key string) (string, bool) {
	v, ok := s.values[key]
	return v, ok
}

func (s Values) IsConfigSecret(key string) bool { return slices.Contains(s.secrets, key) }

func (s Values) ConfigKeys() []string { return slices.Collect(maps.Keys(s.values)) }

// Load reads Pulumi.<stack>.yaml in dir, which also holds the project's
// Pulumi.yaml, with Pulumi's own loader. A secret's value cannot be read
// here; it stands as a placeholder, and IsConfigSecret says so.
func Load(dir, stack string) (Values, error) {
	project, err := workspace.LoadProject(filepath.Join(dir, "Pulumi.yaml"))
	if err != nil {
		return Values{}, err
	}
	sink := diag.DefaultSink(io.Discard, io.Discard, diag.FormatOptions{Color: colors.Never})
	ps, err := workspace.LoadProjectStack(sink, project, filepath.Join(dir, "Pulumi."+stack+".yaml"))
	if err != nil {
		return Values{}, err
	}
	decrypted, err := ps.Config.Decrypt(config.NewBlindingDecrypter())
	if err != nil {
		return Values{}, err
	}
	s := Values{values: map[string]string{}}
	for key, value := range decrypted {
		s.values[key.String()] = value
		if ps.Config[key].Secure() {
			s.secrets = append(s.secrets, key.String())
		}
	}
	return s, nil
}

// Map is a copy of the values by key, for a caller that edits them.
func (s Values) Map() map[string]string { return maps.Clone(s.values) }

// Committed lists the stacks that have a stack file (Pulumi.<stack>.yaml)
// in dir, sorted.
func Committed(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "Pulumi.*.yaml"))
	if err != nil {
		return nil, err
	}
	stacks := make([]string, 0, len(files))
	for _, file := range files {
		stacks = append(stacks, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "Pulumi."), ".yaml"))
	}
	slices.Sort(stacks)
	return stacks, nil
}

// MustCommitted is Committed for tests and package-level variables: it
// panics when dir holds no stack file.
func MustCommitted(dir string) []string {
	stacks, err := Committed(dir)
	if err == nil && len(stacks) == 0 {
		err = fmt.Errorf("no Pulumi.<stack>.yaml in %s", dir)
	}
	if err != nil {
		panic(err)
	}
	return stacks
}
