// Package settings is what the payment provider can be told at start: the
// names of its environment variables, their defaults, how each is read and
// checked, and the environment a Config becomes.
//
// The server reads its environment with FromEnv. The Pulumi program builds
// the Config of a stack with the same function and writes the pods'
// environment with Env, so a value one of them refuses the other refuses
// too, in the same sentence. The package imports nothing of HTTP or
// metrics: the Pulumi program links neither.
package settings

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Environment variables read by FromEnv.
const (
	EnvAddr            = "PAYMENTS_ADDR"
	EnvMetricsAddr     = "PAYMENTS_METRICS_ADDR"
	EnvSuccessRate     = "PAYMENTS_SUCCESS_RATE"
	EnvSeed            = "PAYMENTS_SEED"
	EnvDrain           = "PAYMENTS_DRAIN"
	EnvShutdownTimeout = "PAYMENTS_SHUTDOWN_TIMEOUT"
	EnvAuthToken       = "PAYMENTS_AUTH_TOKEN"
	EnvLogLevel        = "PAYMENTS_LOG_LEVEL"
)

// MaxDrain bounds the drain: a longer one keeps rollouts and node drains
// waiting for nothing.
const MaxDrain = 2 * time.Minute

// Config is everything the payment provider can be told at start.
type Config struct {
	// Addr is the TCP address charges and probes are served on, host:port.
	Addr string
	// MetricsAddr is the TCP address /metrics is served on, host:port: a
	// port of its own, so that a NetworkPolicy can let a monitoring system
	// scrape it without letting it charge, and Antaeus charge without
	// scraping.
	MetricsAddr string
	// SuccessRate is the probability, from 0 to 1, that a charge is paid.
	SuccessRate float64
	// Seed, when set, makes the sequence of outcomes the same at every start.
	Seed *int64
	// Drain is how long the server keeps serving, reporting not ready, after
	// it is told to stop, so that load balancers stop sending it requests.
	Drain time.Duration
	// ShutdownTimeout bounds the wait for in-flight requests after the drain.
	ShutdownTimeout time.Duration
	// AuthToken, when not empty, is the bearer token the charge endpoints require.
	AuthToken string
	// LogLevel is the lowest level written to the log.
	LogLevel slog.Level

	// The values below have no environment variable; only code sets them.

	// BodyLimit is the largest charge request body accepted, in bytes.
	BodyLimit int64
	// Server timeouts, see net/http.Server.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
}

// Default returns the configuration used for every setting left unset.
func Default() Config {
	return Config{
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
		// Antaeus (khttp on the JDK's HttpURLConnection) keeps an idle
		// connection for 5 s and reuses it; closing it earlier than the client
		// would races with the client's next charge on that connection.
		IdleTimeout: 120 * time.Second,
	}
}

// FromEnv reads the PAYMENTS_* variables through getenv (os.Getenv in
// production) over the defaults. An empty variable counts as unset. The
// error is a Problems holding one sentence per invalid variable (or
// default that clashes with a variable set, such as the ports).
func FromEnv(getenv func(string) string) (Config, error) {
	c := Default()
	var problems Problems
	for _, s := range variables {
		value := getenv(s.name)
		if value == "" {
			// A default can still clash with another variable's value.
			if !s.valid(c) {
				problems = append(problems, s.problem(s.format(c)))
			}
			continue
		}
		if err := s.parse(&c, value); err != nil || !s.valid(c) {
			problems = append(problems, s.problem(value))
		}
	}
	if len(problems) > 0 {
		return Config{}, problems
	}
	return c, nil
}

// Validate reports every value the server cannot run with, for a Config
// built in code. The error is a Problems, worded as FromEnv words it.
func (c Config) Validate() error {
	var problems Problems
	for _, s := range variables {
		if !s.valid(c) {
			problems = append(problems, s.problem(s.format(c)))
		}
	}
	if c.BodyLimit <= 0 {
		problems = append(problems, Problem{Setting: "BodyLimit", rule: "a positive number of bytes", value: strconv.FormatInt(c.BodyLimit, 10)})
	}
	for _, t := range []struct {
		field string
		value time.Duration
	}{
		{"ReadHeaderTimeout", c.ReadHeaderTimeout},
		{"ReadTimeout", c.ReadTimeout},
		{"WriteTimeout", c.WriteTimeout},
		{"IdleTimeout", c.IdleTimeout},
	} {
		if t.value <= 0 {
			problems = append(problems, Problem{Setting: t.field, rule: "a positive duration", value: t.value.String()})
		}
	}
	if len(problems) > 0 {
		return problems
	}
	return nil
}

// Variable is one environment variable of the server.
type Variable struct {
	Name, Value string
	// Secret marks a value to keep out of plain manifests and logs.
	Secret bool
}

// Env is the environment that FromEnv reads back as c: one variable per
// setting, in a fixed order, leaving out a seed or a token c does not have.
func (c Config) Env() []Variable {
	var env []Variable
	for _, s := range variables {
		if value := s.format(c); value != "" {
			env = append(env, Variable{Name: s.name, Value: value, Secret: s.secret})
		}
	}
	return env
}

// Problem is one setting the server cannot run with.
type Problem struct {
	// Setting is the environment variable, or the Config field of a value
	// only code sets.
	Setting string
	// rule completes "<setting> must be ...".
	rule  string
	value string
	// secret values are never repeated.
	secret bool
}

func (p Problem) Error() string { return p.Sentence(p.Setting) }

// Sentence is the problem in one sentence naming the setting as name, for
// a reader who set it under another name (a stack's config key).
func (p Problem) Sentence(name string) string {
	if p.secret {
		return fmt.Sprintf("%s must be %s", name, p.rule)
	}
	return fmt.Sprintf("%s must be %s, got %q", name, p.rule, p.value)
}

// Problems are every problem found in one pass, in the order of the
// settings, one sentence a line.
type Problems []Problem

func (ps Problems) Error() string {
	sentences := make([]string, len(ps))
	for i, p := range ps {
		sentences[i] = p.Error()
	}
	return strings.Join(sentences, "\n")
}

// variable is one setting an environment variable sets: the single place
// its name, wording, parsing, rule and formatting are defined.
type variable struct {
	name string
	// rule completes "<name> must be ...".
	rule   string
	secret bool
	// parse sets the value in c from the variable's text.
	parse func(c *Config, text string) error
	// valid reports whether c's value is one the server runs with.
	valid func(c Config) bool
	// format is the text that parse reads back as c's value; "" for a
	// value that leaves the variable unset.
	format func(c Config) string
}

func (v variable) problem(value string) Problem {
	p := Problem{Setting: v.name, rule: v.rule, secret: v.secret}
	if !v.secret {
		p.value = value
	}
	return p
}

// variables are in the order Env writes them.
var variables = []variable{
	{
		name:   EnvAddr,
		rule:   `host:port such as ":9000"`,
		parse:  func(c *Config, text string) error { c.Addr = text; return nil },
		valid:  func(c Config) bool { return validAddr(c.Addr) },
		format: func(c Config) string { return c.Addr },
	},
	{
		name:   EnvMetricsAddr,
		rule:   fmt.Sprintf(`host:port such as ":9090", on a port other than %s's`, EnvAddr),
		parse:  func(c *Config, text string) error { c.MetricsAddr = text; return nil },
		valid:  func(c Config) bool { return validAddr(c.MetricsAddr) && !samePort(c.MetricsAddr, c.Addr) },
		format: func(c Config) string { return c.MetricsAddr },
	},
	{
		name:   EnvDrain,
		rule:   fmt.Sprintf(`a duration from 0s to %s such as "5s"`, MaxDrain),
		parse:  func(c *Config, text string) (err error) { c.Drain, err = time.ParseDuration(text); return err },
		valid:  func(c Config) bool { return c.Drain >= 0 && c.Drain <= MaxDrain },
		format: func(c Config) string { return c.Drain.String() },
	},
	{
		name: EnvSuccessRate,
		rule: "a number from 0 to 1",
		parse: func(c *Config, text string) (err error) {
			c.SuccessRate, err = strconv.ParseFloat(text, 64)
			return err
		},
		valid:  func(c Config) bool { return !math.IsNaN(c.SuccessRate) && c.SuccessRate >= 0 && c.SuccessRate <= 1 },
		format: func(c Config) string { return strconv.FormatFloat(c.SuccessRate, 'f', -1, 64) },
	},
	{
		name:   EnvLogLevel,
		rule:   "a level: debug, info, warn or error",
		parse:  func(c *Config, text string) error { return c.LogLevel.UnmarshalText([]byte(text)) },
		valid:  func(Config) bool { return true },
		format: func(c Config) string { return strings.ToLower(c.LogLevel.String()) },
	},
	{
		name: EnvSeed,
		rule: "an integer",
		parse: func(c *Config, text string) error {
			seed, err := strconv.ParseInt(text, 10, 64)
			c.Seed = &seed
			return err
		},
		valid: func(Config) bool { return true },
		format: func(c Config) string {
			if c.Seed == nil {
				return ""
			}
			return strconv.FormatInt(*c.Seed, 10)
		},
	},
	{
		name: EnvShutdownTimeout,
		rule: `a positive duration such as "10s"`,
		parse: func(c *Config, text string) (err error) {
			c.ShutdownTimeout, err = time.ParseDuration(text)
			return err
		},
		valid:  func(c Config) bool { return c.ShutdownTimeout > 0 },
		format: func(c Config) string { return c.ShutdownTimeout.String() },
	},
	{
		name:   EnvAuthToken,
		rule:   "a token without spaces",
		secret: true,
		parse:  func(c *Config, text string) error { c.AuthToken = text; return nil },
		valid:  func(c Config) bool { return !strings.ContainsFunc(c.AuthToken, unicode.IsSpace) },
		format: func(c Config) string { return c.AuthToken },
	},
}

func validAddr(addr string) bool {
	_, ok := port(addr)
	return ok
}

// samePort reports whether two addresses name the same fixed port; port 0
// (any free port) never collides.
func samePort(a, b string) bool {
	portA, okA := port(a)
	portB, okB := port(b)
	return okA && okB && portA != 0 && portA == portB
}

func port(addr string) (uint64, bool) {
	_, text, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, false
	}
	number, err := strconv.ParseUint(text, 10, 16)
	return number, err == nil
}
