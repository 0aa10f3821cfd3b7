// Package stackfile reads a committed Pulumi.<stack>.yaml as the engine hands
// its config to the program, so that tools and tests can load it with
// config.Load before any Pulumi runs.
package stackfile

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
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

// Read reads the config: section of a Pulumi.<stack>.yaml. A
// `secure:` value cannot be read here; it stands as a secret placeholder.
func Read(data []byte) (Values, error) {
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		return Values{}, err
	}
	s := Values{values: map[string]string{}}
	for key, value := range file.Config {
		switch v := value.(type) {
		case string:
			s.values[key] = v
		case map[string]any:
			if _, secure := v["secure"]; secure && len(v) == 1 {
				s.values[key] = "secret"
				s.secrets = append(s.secrets, key)
				continue
			}
			encoded, err := json.Marshal(v)
			if err != nil {
				return Values{}, fmt.Errorf("%s: %w", key, err)
			}
			s.values[key] = string(encoded)
		default:
			encoded, err := json.Marshal(v)
			if err != nil {
				return Values{}, fmt.Errorf("%s: %w", key, err)
			}
			s.values[key] = string(encoded)
		}
	}
	return s, nil
}

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
