package settings_test

import (
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tinjis/tinjis/payments/settings"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestFromEnvUsesTheDefaultsForUnsetVariables(t *testing.T) {
	cfg, err := settings.FromEnv(env(nil))
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	want := settings.Config{
		Addr:              ":9000",
		MetricsAddr:       ":9090",
		SuccessRate:       0.5,
		Drain:             5 * time.Second,
		ShutdownTimeout:   10 * time.Second,
		LogLevel:          slog.LevelInfo,
		BodyLimit:         64 << 10,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config = %+v, want %+v", cfg, want)
	}
}

func TestFromEnvReadsEverySetting(t *testing.T) {
	cfg, err := settings.FromEnv(env(map[string]string{
		"PAYMENTS_ADDR":             "127.0.0.1:9100",
		"PAYMENTS_METRICS_ADDR":     ":9101",
		"PAYMENTS_SUCCESS_RATE":     "0.25",
		"PAYMENTS_SEED":             "-42",
		"PAYMENTS_DRAIN":            "0s",
		"PAYMENTS_SHUTDOWN_TIMEOUT": "1m30s",
		"PAYMENTS_AUTH_TOKEN":       "t0ken",
		"PAYMENTS_LOG_LEVEL":        "DEBUG",
	}))
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	want := settings.Default()
	want.Addr = "127.0.0.1:9100"
	want.MetricsAddr = ":9101"
	want.SuccessRate = 0.25
	want.Seed = new(int64(-42))
	want.Drain = 0
	want.ShutdownTimeout = 90 * time.Second
	want.AuthToken = "t0ken"
	want.LogLevel = slog.LevelDebug
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config = %+v, want %+v", cfg, want)
	}
}

func TestFromEnvRefusesEveryInvalidValueWithASentenceNamingIt(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"an address without a port", map[string]string{"PAYMENTS_ADDR": "localhost"},
			`PAYMENTS_ADDR must be host:port such as ":9000", got "localhost"`},
		{"an address with a port beyond 65535", map[string]string{"PAYMENTS_ADDR": ":70000"},
			`PAYMENTS_ADDR must be host:port such as ":9000", got ":70000"`},
		{"a metrics address without a port", map[string]string{"PAYMENTS_METRICS_ADDR": "localhost"},
			`PAYMENTS_METRICS_ADDR must be host:port such as ":9090", on a port other than PAYMENTS_ADDR's, got "localhost"`},
		{"metrics on the charge port", map[string]string{"PAYMENTS_METRICS_ADDR": "127.0.0.1:9000"},
			`PAYMENTS_METRICS_ADDR must be host:port such as ":9090", on a port other than PAYMENTS_ADDR's, got "127.0.0.1:9000"`},
		{"charges moved onto the default metrics port", map[string]string{"PAYMENTS_ADDR": ":9090"},
			`PAYMENTS_METRICS_ADDR must be host:port such as ":9090", on a port other than PAYMENTS_ADDR's, got ":9090"`},
		{"a rate that is not a number", map[string]string{"PAYMENTS_SUCCESS_RATE": "half"},
			`PAYMENTS_SUCCESS_RATE must be a number from 0 to 1, got "half"`},
		{"a rate written as a percentage", map[string]string{"PAYMENTS_SUCCESS_RATE": "50"},
			`PAYMENTS_SUCCESS_RATE must be a number from 0 to 1, got "50"`},
		{"a negative rate", map[string]string{"PAYMENTS_SUCCESS_RATE": "-0.1"},
			`PAYMENTS_SUCCESS_RATE must be a number from 0 to 1, got "-0.1"`},
		{"a NaN rate", map[string]string{"PAYMENTS_SUCCESS_RATE": "NaN"},
			`PAYMENTS_SUCCESS_RATE must be a number from 0 to 1, got "NaN"`},
		{"a fractional seed", map[string]string{"PAYMENTS_SEED": "1.5"},
			`PAYMENTS_SEED must be an integer, got "1.5"`},
		{"a seed beyond 64 bits", map[string]string{"PAYMENTS_SEED": "18446744073709551616"},
			`PAYMENTS_SEED must be an integer, got "18446744073709551616"`},
		{"a drain without a unit", map[string]string{"PAYMENTS_DRAIN": "5"},
			`PAYMENTS_DRAIN must be a duration from 0s to 2m0s such as "5s", got "5"`},
		{"a negative drain", map[string]string{"PAYMENTS_DRAIN": "-1s"},
			`PAYMENTS_DRAIN must be a duration from 0s to 2m0s such as "5s", got "-1s"`},
		{"a drain beyond two minutes", map[string]string{"PAYMENTS_DRAIN": "121s"},
			`PAYMENTS_DRAIN must be a duration from 0s to 2m0s such as "5s", got "121s"`},
		{"a zero shutdown timeout", map[string]string{"PAYMENTS_SHUTDOWN_TIMEOUT": "0s"},
			`PAYMENTS_SHUTDOWN_TIMEOUT must be a positive duration such as "10s", got "0s"`},
		{"a token with a space, which is not repeated", map[string]string{"PAYMENTS_AUTH_TOKEN": "Bearer abc"},
			`PAYMENTS_AUTH_TOKEN must be a token without spaces`},
		{"an unknown log level", map[string]string{"PAYMENTS_LOG_LEVEL": "verbose"},
			`PAYMENTS_LOG_LEVEL must be a level: debug, info, warn or error, got "verbose"`},
		{"two invalid values are both reported, one sentence each",
			map[string]string{"PAYMENTS_SUCCESS_RATE": "2", "PAYMENTS_LOG_LEVEL": "loud"},
			"PAYMENTS_SUCCESS_RATE must be a number from 0 to 1, got \"2\"\n" +
				`PAYMENTS_LOG_LEVEL must be a level: debug, info, warn or error, got "loud"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := settings.FromEnv(env(tt.vars))
			if err == nil {
				t.Fatalf("FromEnv accepted %v", tt.vars)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\nwant    %q", err, tt.want)
			}
		})
	}
}

func TestAnyFreePortIsNeverTheChargePort(t *testing.T) {
	cfg, err := settings.FromEnv(env(map[string]string{"PAYMENTS_ADDR": "127.0.0.1:0", "PAYMENTS_METRICS_ADDR": "127.0.0.1:0"}))
	if err != nil {
		t.Fatalf("FromEnv refuses two free ports: %v", err)
	}
	if cfg.Addr != "127.0.0.1:0" || cfg.MetricsAddr != "127.0.0.1:0" {
		t.Errorf("addresses %q and %q, want both 127.0.0.1:0", cfg.Addr, cfg.MetricsAddr)
	}
}

func TestValidateReportsEveryProblemOfAConfigBuiltInCodeAsFromEnvWordsIt(t *testing.T) {
	cfg := settings.Default()
	cfg.SuccessRate = 1.5
	cfg.Drain = 3 * time.Minute
	cfg.BodyLimit = 0
	cfg.ReadTimeout = -time.Second
	err := cfg.Validate()
	want := strings.Join([]string{
		`PAYMENTS_DRAIN must be a duration from 0s to 2m0s such as "5s", got "3m0s"`,
		`PAYMENTS_SUCCESS_RATE must be a number from 0 to 1, got "1.5"`,
		`BodyLimit must be a positive number of bytes, got "0"`,
		`ReadTimeout must be a positive duration, got "-1s"`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v\nwant %s", err, want)
	}
	var problems settings.Problems
	if !errors.As(err, &problems) || len(problems) != 4 || problems[0].Setting != settings.EnvDrain {
		t.Errorf("Validate() = %#v, want the four problems, the drain's first", err)
	}
}

func TestAProblemNamesTheSettingAsItsReaderSetIt(t *testing.T) {
	_, err := settings.FromEnv(env(map[string]string{"PAYMENTS_DRAIN": "5", "PAYMENTS_AUTH_TOKEN": "a b"}))
	var problems settings.Problems
	if !errors.As(err, &problems) || len(problems) != 2 {
		t.Fatalf("FromEnv = %v, want two problems", err)
	}
	for i, want := range []string{
		`tinjis:payments.drain must be a duration from 0s to 2m0s such as "5s", got "5"`,
		`tinjis:payments.authToken must be a token without spaces`,
	} {
		name := "tinjis:payments." + []string{"drain", "authToken"}[i]
		if got := problems[i].Sentence(name); got != want {
			t.Errorf("Sentence(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestTheEnvironmentOfAConfigIsReadBackAsThatConfig(t *testing.T) {
	seed := int64(7)
	everySetting := settings.Default()
	everySetting.Addr = "127.0.0.1:9100"
	everySetting.MetricsAddr = "127.0.0.1:9101"
	everySetting.SuccessRate = 0.125
	everySetting.Seed = &seed
	everySetting.Drain = 1500 * time.Millisecond
	everySetting.ShutdownTimeout = time.Minute
	everySetting.AuthToken = "t0ken"
	everySetting.LogLevel = slog.LevelWarn + 2
	for _, tc := range []struct {
		name string
		cfg  settings.Config
	}{
		{"the defaults", settings.Default()},
		{"every setting changed", everySetting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{}
			for _, v := range tc.cfg.Env() {
				if _, twice := vars[v.Name]; twice {
					t.Errorf("%s is written twice", v.Name)
				}
				vars[v.Name] = v.Value
			}
			got, err := settings.FromEnv(env(vars))
			if err != nil {
				t.Fatalf("FromEnv(%v): %v", vars, err)
			}
			if !reflect.DeepEqual(got, tc.cfg) {
				t.Errorf("FromEnv(%v) = %+v, want %+v", vars, got, tc.cfg)
			}
		})
	}
}

func TestOnlyTheTokenIsASecretVariable(t *testing.T) {
	cfg := settings.Default()
	cfg.AuthToken = "t0ken"
	var secrets []string
	for _, v := range cfg.Env() {
		if v.Secret {
			secrets = append(secrets, v.Name)
		}
	}
	if len(secrets) != 1 || secrets[0] != settings.EnvAuthToken {
		t.Errorf("secret variables %v, want only %s", secrets, settings.EnvAuthToken)
	}
}
