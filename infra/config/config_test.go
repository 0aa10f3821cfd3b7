package config_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/payments/settings"
)

// values is a stack's configuration as the engine hands it over.
type values map[string]string

func (v values) GetConfig(key string) (string, bool) {
	s, ok := v[key]
	return s, ok
}

func (v values) IsConfigSecret(string) bool { return false }

func (v values) ConfigKeys() []string { return slices.Collect(maps.Keys(v)) }

// minimal is the smallest valid stack: everything else has a default.
func minimal() values {
	return values{
		config.KeyKubernetes: `{"context":"kind-tinjis"}`,
		config.KeyPayments:   `{"image":"ghcr.io/tinjis/tinjis/payments:main"}`,
		config.KeyAntaeus:    `{"image":"pleo-antaeus:latest","flavor":"stock"}`,
		config.KeyExpose:     `{"mode":"loadBalancer"}`,
		config.KeyDeployer:   `{"users":["kubernetes-admin"]}`,
	}
}

func TestImagesArePinnedByTagOrByDigest(t *testing.T) {
	const digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	for _, tc := range []struct {
		name, image string
		accepted    bool
	}{
		{"a tag is accepted", "ghcr.io/tinjis/tinjis/payments:0.1.0", true},
		{"a digest is accepted", "ghcr.io/tinjis/tinjis/payments@" + digest, true},
		{"a tag with a digest is accepted", "ghcr.io/tinjis/tinjis/payments:0.1.0@" + digest, true},
		{"a local image with a tag is accepted", "pleo-antaeus:latest", true},
		{"a registry with a port is accepted", "localhost:5000/payments:dev", true},
		{"a bare repository is refused", "ghcr.io/tinjis/tinjis/payments", false},
		{"a registry port without a tag is refused", "localhost:5000/payments", false},
		{"a short digest is refused", "ghcr.io/tinjis/tinjis/payments@sha256:e3b0c442", false},
		{"an unknown digest algorithm is refused", "ghcr.io/tinjis/tinjis/payments@md5:d41d8cd98f00b204e9800998ecf8427e", false},
		{"upper case is refused", "ghcr.io/Tinjis/payments:1", false},
		{"an empty reference is refused", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, key := range []string{config.KeyPayments, config.KeyAntaeus} {
				v := minimal()
				v[key] = strings.Replace(v[key], imageOf(t, v[key]), tc.image, 1)
				_, err := config.Load("dev", v)
				if accepted := err == nil; accepted != tc.accepted {
					t.Errorf("%s.image %q: accepted %v (%v), want %v", key, tc.image, accepted, err, tc.accepted)
				}
				if err != nil && !strings.Contains(err.Error(), key+".image") {
					t.Errorf("error %q does not name %s.image", err, key)
				}
			}
		})
	}
}

// imageOf finds the image value inside a JSON object, to replace it.
func imageOf(t *testing.T, object string) string {
	t.Helper()
	_, rest, ok := strings.Cut(object, `"image":"`)
	image, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 {
		t.Fatalf("no image in %s", object)
	}
	return image
}

func TestDefaultsFillWhatAStackLeavesOut(t *testing.T) {
	v := minimal()
	v[config.KeyAntaeus] = `{"image":"ghcr.io/tinjis/tinjis/antaeus:1","flavor":"prebuilt","resources":{"limits":{"memory":"768Mi"}}}`
	c, err := config.Load("staging", v)
	if err != nil {
		t.Fatal(err)
	}
	if c.Environment != "staging" {
		t.Errorf("environment %q, want the stack name", c.Environment)
	}
	if *c.Payments.Replicas != 1 || *c.Antaeus.Replicas != 1 {
		t.Errorf("replicas payments %d, antaeus %d, want 1 and 1", *c.Payments.Replicas, *c.Antaeus.Replicas)
	}
	want := config.DefaultAntaeusResources[config.FlavorPrebuilt]
	want.Limits.Memory = "768Mi"
	if c.Antaeus.Resources != want {
		t.Errorf("Antaeus resources %+v, want the prebuilt defaults with the memory limit set: %+v", c.Antaeus.Resources, want)
	}
	if c.Payments.Resources != config.DefaultPaymentsResources {
		t.Errorf("payments resources %+v, want the defaults %+v", c.Payments.Resources, config.DefaultPaymentsResources)
	}
	if c.Kubernetes.ClusterDomain != "cluster.local" || c.Payments.Server.Drain != 5*time.Second {
		t.Errorf("cluster domain %q, drain %v, want cluster.local and 5s", c.Kubernetes.ClusterDomain, c.Payments.Server.Drain)
	}
	if c.Payments.Server != settings.Default() {
		t.Errorf("payments server settings %+v, want the server's defaults %+v", c.Payments.Server, settings.Default())
	}
}

func TestEnvironmentOverridesTheStackName(t *testing.T) {
	v := minimal()
	v[config.KeyEnvironment] = "review-42"
	c, err := config.Load("dev", v)
	if err != nil {
		t.Fatal(err)
	}
	if c.Environment != "review-42" {
		t.Errorf("environment %q, want review-42", c.Environment)
	}
}

func TestAMissingFlavorIsRefusedWithTheAcceptedValues(t *testing.T) {
	v := minimal()
	v[config.KeyAntaeus] = `{"image":"pleo-antaeus:latest"}`
	_, err := config.Load("dev", v)
	if err == nil || !strings.Contains(err.Error(), `tinjis:antaeus.flavor must be one of stock, prebuilt`) {
		t.Errorf("error %v, want one naming tinjis:antaeus.flavor and its values", err)
	}
}

func TestDevelopersOfAServiceAreListedInConfigOrder(t *testing.T) {
	v := minimal()
	v[config.KeyDevelopers] = `[{"name":"carol","services":["antaeus","payments"]},{"name":"alice","services":["payments"]},{"name":"bob","services":["antaeus"]}]`
	c, err := config.Load("dev", v)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.DevelopersOf(config.ServicePayments), ","); got != "carol,alice" {
		t.Errorf("payments developers %s, want carol,alice", got)
	}
	if got := strings.Join(c.DevelopersOf(config.ServiceAntaeus), ","); got != "carol,bob" {
		t.Errorf("antaeus developers %s, want carol,bob", got)
	}
}
