package server

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Environment variables read by ConfigFromEnv.
const (
	EnvAddr            = "PAYMENTS_ADDR"
	EnvSuccessRate     = "PAYMENTS_SUCCESS_RATE"
	EnvSeed            = "PAYMENTS_SEED"
	EnvDrain           = "PAYMENTS_DRAIN"
	EnvShutdownTimeout = "PAYMENTS_SHUTDOWN_TIMEOUT"
	EnvAuthToken       = "PAYMENTS_AUTH_TOKEN"
	EnvLogLevel        = "PAYMENTS_LOG_LEVEL"
)

// Config is everything the payment provider can be told at start.
type Config struct {
	// Addr is the TCP address to listen on, host:port.
	Addr string
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

	// BodyLimit is the largest charge request body accepted, in bytes.
	BodyLimit int64
	// Server timeouts, see net/http.Server.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
}

// DefaultConfig returns the configuration used for every setting left unset.
func DefaultConfig() Config {
	return Config{
		Addr:              ":9000",
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

// ConfigFromEnv reads the PAYMENTS_* variables through getenv (os.Getenv in
// production), fills unset ones with DefaultConfig, and validates the result.
// An empty variable counts as unset. Each problem is reported as one sentence
// naming the variable; all problems are reported together.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	var errs []error
	read := func(name, want string, parse func(string) error) {
		value := getenv(name)
		if value == "" {
			return
		}
		if err := parse(value); err != nil {
			errs = append(errs, fmt.Errorf("%s must be %s, got %q", name, want, value))
		}
	}

	read(EnvAddr, "host:port such as \":9000\"", func(v string) error {
		cfg.Addr = v
		return validAddr(v)
	})
	read(EnvSuccessRate, "a number from 0 to 1", func(v string) error {
		rate, err := strconv.ParseFloat(v, 64)
		cfg.SuccessRate = rate
		return errors.Join(err, validRate(rate))
	})
	read(EnvSeed, "an integer", func(v string) error {
		seed, err := strconv.ParseInt(v, 10, 64)
		cfg.Seed = &seed
		return err
	})
	read(EnvDrain, "a duration of 0s or more such as \"5s\"", func(v string) error {
		d, err := time.ParseDuration(v)
		cfg.Drain = d
		return errors.Join(err, nonNegative(d))
	})
	read(EnvShutdownTimeout, "a positive duration such as \"10s\"", func(v string) error {
		d, err := time.ParseDuration(v)
		cfg.ShutdownTimeout = d
		return errors.Join(err, positive(d))
	})
	read(EnvAuthToken, "a token without spaces", func(v string) error {
		cfg.AuthToken = v
		if strings.ContainsFunc(v, unicode.IsSpace) {
			return errors.New("contains a space")
		}
		return nil
	})
	read(EnvLogLevel, "one of debug, info, warn, error", func(v string) error {
		switch strings.ToLower(v) {
		case "debug":
			cfg.LogLevel = slog.LevelDebug
		case "info":
			cfg.LogLevel = slog.LevelInfo
		case "warn":
			cfg.LogLevel = slog.LevelWarn
		case "error":
			cfg.LogLevel = slog.LevelError
		default:
			return errors.New("unknown level")
		}
		return nil
	})

	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, cfg.Validate()
}

// Validate reports the first setting that the server cannot run with, as one
// sentence naming it. ConfigFromEnv calls it; call it on a Config built by hand.
func (c Config) Validate() error {
	switch {
	case validAddr(c.Addr) != nil:
		return fmt.Errorf("%s must be host:port such as \":9000\", got %q", EnvAddr, c.Addr)
	case validRate(c.SuccessRate) != nil:
		return fmt.Errorf("%s must be a number from 0 to 1, got %v", EnvSuccessRate, c.SuccessRate)
	case nonNegative(c.Drain) != nil:
		return fmt.Errorf("%s must be a duration of 0s or more, got %v", EnvDrain, c.Drain)
	case positive(c.ShutdownTimeout) != nil:
		return fmt.Errorf("%s must be a positive duration, got %v", EnvShutdownTimeout, c.ShutdownTimeout)
	case strings.ContainsFunc(c.AuthToken, unicode.IsSpace):
		return fmt.Errorf("%s must be a token without spaces", EnvAuthToken)
	case c.BodyLimit <= 0:
		return fmt.Errorf("the body limit must be a positive number of bytes, got %d", c.BodyLimit)
	case positive(c.ReadHeaderTimeout) != nil, positive(c.ReadTimeout) != nil,
		positive(c.WriteTimeout) != nil, positive(c.IdleTimeout) != nil:
		return errors.New("the read header, read, write and idle timeouts must all be positive")
	}
	return nil
}

func validAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err
}

func validRate(rate float64) error {
	if math.IsNaN(rate) || rate < 0 || rate > 1 {
		return errors.New("out of range")
	}
	return nil
}

func nonNegative(d time.Duration) error {
	if d < 0 {
		return errors.New("negative")
	}
	return nil
}

func positive(d time.Duration) error {
	if d <= 0 {
		return errors.New("not positive")
	}
	return nil
}
