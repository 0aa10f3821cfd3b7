package stack_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/stack"
	"github.com/tinjis/tinjis/payments/settings"
)

func TestAPaymentsSettingIsRefusedByTheStackExactlyWhenTheServerRefusesIt(t *testing.T) {
	for _, tc := range []struct {
		name     string
		field    string // under tinjis:payments
		variable string // the server's
		value    any
	}{
		{"a log level in capitals is accepted", "logLevel", settings.EnvLogLevel, "DEBUG"},
		{"an unknown log level is refused", "logLevel", settings.EnvLogLevel, "verbose"},
		{"a drain of two minutes is accepted", "drain", settings.EnvDrain, "2m"},
		{"a drain of five minutes is refused", "drain", settings.EnvDrain, "5m"},
		{"a negative drain is refused", "drain", settings.EnvDrain, "-1s"},
		{"a drain without a unit is refused", "drain", settings.EnvDrain, "5"},
		{"a success rate of 1 is accepted", "successRate", settings.EnvSuccessRate, 1},
		{"a success rate written as a percentage is refused", "successRate", settings.EnvSuccessRate, 50},
		{"a negative success rate is refused", "successRate", settings.EnvSuccessRate, -0.1},
		{"a negative seed is accepted", "seed", settings.EnvSeed, -42},
		{"a token is accepted", "authToken", settings.EnvAuthToken, "t0ken"},
		{"a token with a space is refused", "authToken", settings.EnvAuthToken, "Bearer abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, serverErr := settings.FromEnv(func(name string) string {
				if name == tc.variable {
					return fmt.Sprint(tc.value)
				}
				return ""
			})
			cfg := committedConfig(t, "dev").with(t, config.KeyPayments, []string{tc.field}, tc.value)
			_, stackErr := deploy(t, "dev", cfg, config.KeyPayments)
			switch {
			case serverErr == nil && stackErr != nil:
				t.Fatalf("the server starts with %s=%v, the stack refuses %s.%s: %v", tc.variable, tc.value, config.KeyPayments, tc.field, stackErr)
			case serverErr != nil && stackErr == nil:
				t.Fatalf("the server refuses %s=%v (%v), the stack accepts %s.%s", tc.variable, tc.value, serverErr, config.KeyPayments, tc.field)
			case serverErr != nil:
				want := strings.Replace(serverErr.Error(), tc.variable, config.KeyPayments+"."+tc.field, 1)
				if !strings.Contains(stackErr.Error(), want) {
					t.Errorf("the stack's error %q\ndoes not hold the server's sentence %q", stackErr, want)
				}
			}
		})
	}
}

func TestPaymentsPodsAreToldTheStacksSettingsInTheServersOwnVariables(t *testing.T) {
	for _, m := range committedManifests(t) {
		t.Run(m.stack, func(t *testing.T) {
			d := m.deploymentOf(t, config.ServicePayments)
			c := d.Spec.Template.Spec.Containers[0]
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
			got, err := settings.FromEnv(func(name string) string { return env[name] })
			if err != nil {
				t.Fatalf("the server refuses the environment %v: %v", env, err)
			}
			want := m.config.Payments.Server
			want.Addr = fmt.Sprintf(":%d", portNamed(t, d, "http"))
			want.MetricsAddr = fmt.Sprintf(":%d", portNamed(t, d, stack.MetricsPortName))
			if got != want {
				t.Errorf("the server reads %+v from its environment, want the stack's %+v", got, want)
			}
		})
	}
}

func TestHighAvailabilityAloneDecidesTheDisruptionBudgetAndTheSpread(t *testing.T) {
	for _, tc := range []struct {
		name             string
		highAvailability bool
		replicas         int
		want             bool
	}{
		{"three replicas without highAvailability get neither", false, 3, false},
		{"two replicas with highAvailability get both", true, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := committedConfig(t, "dev").
				with(t, config.KeyPayments, []string{"replicas"}, tc.replicas).
				with(t, config.KeyHighAvailability, nil, tc.highAvailability)
			d, err := deploy(t, "dev", cfg)
			if err != nil {
				t.Fatal(err)
			}
			m := manifestsOf(t, d)
			spread := len(m.deploymentOf(t, config.ServicePayments).Spec.Template.Spec.TopologySpreadConstraints) > 0
			budget := len(m.disruptionBudgs) > 0
			if spread != tc.want || budget != tc.want {
				t.Errorf("spread over nodes %v, PodDisruptionBudget %v, want both %v", spread, budget, tc.want)
			}
		})
	}
}
