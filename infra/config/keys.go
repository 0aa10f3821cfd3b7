package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// KeyLister is a Source that can list every key the stack sets, in every
// namespace. A *pulumi.Context cannot (see stackKeys), but its keys are
// read too; any other Source that cannot list them is not checked.
type KeyLister interface {
	ConfigKeys() []string
}

// readKeys records the keys Load asks for: they are the program's settings,
// so a key added to Load is known without a second list.
type readKeys struct {
	Source
	asked []string
}

func (r *readKeys) GetConfig(key string) (string, bool) {
	if !slices.Contains(r.asked, key) {
		r.asked = append(r.asked, key)
	}
	return r.Source.GetConfig(key)
}

// unknownKeys refuses every key of the stack under the tinjis: namespace
// that Load never asked for, naming the nearest one it knows.
func unknownKeys(src Source, known []string) error {
	keys, listed, err := stackKeys(src)
	if err != nil || !listed {
		return err
	}
	var errs []error
	for _, key := range keys {
		if !strings.HasPrefix(key, Namespace+":") || slices.Contains(known, key) {
			continue
		}
		errs = append(errs, fmt.Errorf("%s is not a setting of this program: did you mean %s?", key, nearest(key, known)))
	}
	return errors.Join(errs...)
}

// nearest is the known key with the fewest edits from key.
func nearest(key string, known []string) string {
	return slices.MinFunc(known, func(a, b string) int {
		return levenshtein.Distance(key, a, nil) - levenshtein.Distance(key, b, nil)
	})
}

// stackKeys lists the keys of the stack's configuration, sorted.
//
// The Go SDK hands a program its configuration as a map it keeps private:
// under `pulumi up` the Go language host passes it in PULUMI_CONFIG, which
// pulumi.Run reads; an Automation API inline program (the integration
// tests) gets it from the engine's RunRequest, with no environment
// variable; pulumi.WithMocks takes it from a RunOption or PULUMI_CONFIG.
// All three end in the map Context.GetConfig reads, and the SDK offers no
// way to list it, so it is read here by reflection (read-only, the SDK
// version go.mod pins; keys_test.go fails if a new SDK moves it).
func stackKeys(src Source) (keys []string, listed bool, err error) {
	switch src := src.(type) {
	case KeyLister:
		return slices.Sorted(slices.Values(src.ConfigKeys())), true, nil
	case *pulumi.Context:
		config, err := contextConfig(src)
		if err != nil {
			return nil, false, fmt.Errorf("cannot list the stack's config keys to refuse unknown ones: %w", err)
		}
		for _, key := range config.MapKeys() {
			keys = append(keys, key.String())
		}
		slices.Sort(keys)
		return keys, true, nil
	}
	return nil, false, nil
}

// contextConfig is the map[string]string ctx reads its config from:
// ctx.state.info.Config.
func contextConfig(ctx *pulumi.Context) (reflect.Value, error) {
	src := ctx
	value := reflect.ValueOf(ctx)
	for _, field := range []string{"state", "info", "Config"} {
		for value.Kind() == reflect.Pointer || value.Kind() == reflect.Interface {
			if value.IsNil() {
				return reflect.Value{}, fmt.Errorf("%T has no %s", src, field)
			}
			value = value.Elem()
		}
		if value.Kind() != reflect.Struct {
			return reflect.Value{}, fmt.Errorf("%T's %s is not a struct", src, field)
		}
		value = value.FieldByName(field)
		if !value.IsValid() {
			return reflect.Value{}, fmt.Errorf("%T has no field %s (a Pulumi SDK this program was not written for)", src, field)
		}
	}
	if value.Type() != reflect.TypeFor[map[string]string]() {
		return reflect.Value{}, fmt.Errorf("the config of %T is a %s, not a map[string]string", src, value.Type())
	}
	return value, nil
}
