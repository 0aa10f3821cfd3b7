package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Source is where config values come from: a *pulumi.Context, or a map in
// tests.
type Source interface {
	GetConfig(key string) (string, bool)
	IsConfigSecret(key string) bool
}

// Full config keys, as users type them.
const (
	KeyEnvironment      = Namespace + ":environment"
	KeyHighAvailability = Namespace + ":highAvailability"
	KeyKubernetes       = Namespace + ":kubernetes"
	KeyPayments         = Namespace + ":payments"
	KeyAntaeus          = Namespace + ":antaeus"
	KeyExpose           = Namespace + ":expose"
	KeyDevelopers       = Namespace + ":developers"

	KeyDeveloperDigestsOnly = Namespace + ":developerDigestsOnly"
)

// Load reads the stack's configuration once, fills in defaults and
// validates it. The error lists every problem found, one sentence each. A
// key under tinjis: that Load does not read is refused first, naming the
// nearest key it reads: a misspelt key is never ignored, nor reported as
// the setting it left unset.
func Load(stack string, stackConfig Source) (Config, error) {
	src := &readKeys{Source: stackConfig}
	var c Config
	c.Environment, _ = src.GetConfig(KeyEnvironment)
	errs := []error{
		readBool(src, KeyHighAvailability, &c.HighAvailability),
		readObject(src, KeyKubernetes, &c.Kubernetes),
		readObject(src, KeyPayments, &c.Payments),
		readObject(src, KeyAntaeus, &c.Antaeus),
		readObject(src, KeyExpose, &c.Expose),
		readObject(src, KeyDevelopers, &c.Developers),
		readObject(src, KeyDeployer, &c.Deployer),
		readObject(src, KeyClusterGuards, &c.ClusterGuards),

		readBool(src, KeyDeveloperDigestsOnly, &c.DeveloperDigestsOnly),
	}
	if err := unknownKeys(stackConfig, src.asked); err != nil {
		return Config{}, err
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	c.applyDefaults(stack)
	var problems []error
	if c.Payments.AuthToken != "" && !src.IsConfigSecret(KeyPayments) {
		problems = append(problems, fmt.Errorf("%s.authToken must be a secret: set it with `pulumi config set --secret --path payments.authToken`", KeyPayments))
	}
	var serverErr error
	c.Payments.Server, serverErr = c.Payments.serverConfig()
	if err := errors.Join(append(problems, c.validate(), serverErr)...); err != nil {
		return Config{}, err
	}
	return c, nil
}

func readBool(src Source, key string, into *bool) error {
	v, ok := src.GetConfig(key)
	if !ok {
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%s must be true or false, not %q", key, v)
	}
	*into = b
	return nil
}

// readObject decodes a structured value strictly: a misspelt field is an
// error, not a silently ignored setting.
func readObject(src Source, key string, into any) error {
	v, ok := src.GetConfig(key)
	if !ok {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	dec.DisallowUnknownFields()
	err := dec.Decode(into)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		path := key
		if typeErr.Field != "" {
			path += "." + typeErr.Field
		}
		return fmt.Errorf("%s must be %s, not a JSON %s", path, describeType(typeErr.Type.Kind().String()), typeErr.Value)
	}
	if field, found := strings.CutPrefix(err.Error(), "json: unknown field "); found {
		return fmt.Errorf("%s has no field %s", key, field)
	}
	return fmt.Errorf("%s is not valid: %s", key, strings.TrimPrefix(err.Error(), "json: "))
}

func describeType(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "bool":
		return "true or false"
	case kind == "string":
		return "a string"
	case kind == "slice":
		return "a list"
	default:
		return "an object"
	}
}
