package server

import (
	"log/slog"
	"reflect"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestConfigFromEnvUsesTheDefaultsForUnsetVariables(t *testing.T) {
	cfg, err := ConfigFromEnv(env(nil))
	if err != nil {
		t.Fatalf("ConfigFromEnv: %v", err)
	}
	want := Config{
		Addr:              ":9000",
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

func TestConfigFromEnvReadsEverySetting(t *testing.T) {
	cfg, err := ConfigFromEnv(env(map[string]string{
		"PAYMENTS_ADDR":             "127.0.0.1:9100",
		"PAYMENTS_SUCCESS_RATE":     "0.25",
		"PAYMENTS_SEED":             "-42",
		"PAYMENTS_DRAIN":            "0s",
		"PAYMENTS_SHUTDOWN_TIMEOUT": "1m30s",
		"PAYMENTS_AUTH_TOKEN":       "t0ken",
		"PAYMENTS_LOG_LEVEL":        "DEBUG",
	}))
	if err != nil {
		t.Fatalf("ConfigFromEnv: %v", err)
	}
	want := DefaultConfig()
	want.Addr = "127.0.0.1:9100"
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

func TestConfigFromEnvStopsAtAnInvalidValueWithASentenceNamingIt(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"an address without a port", map[string]string{"PAYMENTS_ADDR": "localhost"},
			`PAYMENTS_ADDR must be host:port such as ":9000", got "localhost"`},
		{"an address with a port beyond 65535", map[string]string{"PAYMENTS_ADDR": ":70000"},
			`PAYMENTS_ADDR must be host:port such as ":9000", got ":70000"`},
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
			`PAYMENTS_DRAIN must be a duration of 0s or more such as "5s", got "5"`},
		{"a negative drain", map[string]string{"PAYMENTS_DRAIN": "-1s"},
			`PAYMENTS_DRAIN must be a duration of 0s or more such as "5s", got "-1s"`},
		{"a zero shutdown timeout", map[string]string{"PAYMENTS_SHUTDOWN_TIMEOUT": "0s"},
			`PAYMENTS_SHUTDOWN_TIMEOUT must be a positive duration such as "10s", got "0s"`},
		{"a token with a space", map[string]string{"PAYMENTS_AUTH_TOKEN": "Bearer abc"},
			`PAYMENTS_AUTH_TOKEN must be a token without spaces, got "Bearer abc"`},
		{"an unknown log level", map[string]string{"PAYMENTS_LOG_LEVEL": "verbose"},
			`PAYMENTS_LOG_LEVEL must be one of debug, info, warn, error, got "verbose"`},
		{"two invalid values are both reported, one sentence each",
			map[string]string{"PAYMENTS_SUCCESS_RATE": "2", "PAYMENTS_LOG_LEVEL": "loud"},
			"PAYMENTS_SUCCESS_RATE must be a number from 0 to 1, got \"2\"\n" +
				`PAYMENTS_LOG_LEVEL must be one of debug, info, warn, error, got "loud"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ConfigFromEnv(env(tt.vars))
			if err == nil {
				t.Fatalf("ConfigFromEnv accepted %v", tt.vars)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\nwant    %q", err, tt.want)
			}
		})
	}
}

func TestNewRefusesAnInvalidConfigBuiltByHand(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"a rate above 1", func(c *Config) { c.SuccessRate = 1.5 },
			"PAYMENTS_SUCCESS_RATE must be a number from 0 to 1, got 1.5"},
		{"an empty address", func(c *Config) { c.Addr = "" },
			`PAYMENTS_ADDR must be host:port such as ":9000", got ""`},
		{"no body limit", func(c *Config) { c.BodyLimit = 0 },
			"the body limit must be a positive number of bytes, got 0"},
		{"no idle timeout", func(c *Config) { c.IdleTimeout = 0 },
			"the read header, read, write and idle timeouts must all be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.change(&cfg)
			_, err := New(cfg, Deps{})
			if err == nil || err.Error() != tt.want {
				t.Errorf("New = %v, want %q", err, tt.want)
			}
		})
	}
}
