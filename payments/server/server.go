// Package server is the payment provider that Antaeus calls: an echo HTTP
// server that answers each charge with {"result":true} (paid) or
// {"result":false} (declined) at a configured success rate.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tinjis/tinjis/payments/routes"
	"github.com/tinjis/tinjis/payments/settings"
)

// Deps are the collaborators a Server uses. Every field is optional.
type Deps struct {
	// Log receives the server's JSON lines, one per request among them, at
	// the configured level; it is written from many goroutines at once, so it
	// must be safe for concurrent use (logbuffer.Buffer and *os.File are).
	// Nil discards the log.
	Log io.Writer
	// Registry receives the HTTP and charge metrics and is served on /metrics.
	// Nil uses a new registry of the server's own.
	Registry *prometheus.Registry
	// Decider decides each charge. Nil uses NewRandomDecider with the
	// configuration's success rate and seed.
	Decider Decider
}

// Server is the payment provider. Build it with New.
type Server struct {
	cfg      settings.Config
	log      *slog.Logger
	requests requestLog
	decider  Decider
	echo     *echo.Echo
	charges  chargeCounters
	draining atomic.Bool
}

// New builds a Server from a valid configuration and its collaborators.
func New(cfg settings.Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Log == nil {
		deps.Log = io.Discard
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	if deps.Decider == nil {
		deps.Decider = NewRandomDecider(cfg.SuccessRate, cfg.Seed)
	}

	s := &Server{
		cfg:      cfg,
		log:      slog.New(slog.NewJSONHandler(deps.Log, &slog.HandlerOptions{Level: cfg.LogLevel})),
		requests: newRequestLog(deps.Log, cfg.LogLevel),
		decider:  deps.Decider,
		echo:     echo.New(),
	}
	var err error
	if s.charges, err = newChargeCounters(deps.Registry); err != nil {
		return nil, err
	}
	httpMetrics, err := newHTTPMetrics(deps.Registry)
	if err != nil {
		return nil, err
	}

	e := s.echo
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	// Log the peer address; X-Forwarded-For is whatever the client wrote.
	e.IPExtractor = echo.ExtractIPDirect()

	e.Use(wrappedOnce(
		middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: randomID}),
		s.logRequests,
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			DisableStackAll: true,
			LogErrorFunc:    s.logPanic,
		}),
		httpMetrics.middleware,
	))

	charge := []echo.MiddlewareFunc{
		middleware.BodyLimit(strconv.FormatInt(cfg.BodyLimit, 10)),
	}
	if cfg.AuthToken != "" {
		charge = append([]echo.MiddlewareFunc{bearerAuth(cfg.AuthToken)}, charge...)
	}
	e.POST(routes.Charge, wrap(s.charge, charge...))
	e.POST(routes.ChargeAlias, wrap(s.charge, charge...))
	e.GET(routes.Health, s.health)
	e.GET(routes.Ready, s.ready)
	e.GET(routes.Metrics, echoprometheus.NewHandlerWithConfig(echoprometheus.HandlerConfig{Gatherer: deps.Registry}))
	return s, nil
}

// Handler returns the HTTP handler serving every route, for tests and for
// embedding in another server.
func (s *Server) Handler() http.Handler { return s.echo }

// Run listens on the configured address and serves until ctx is cancelled,
// then shuts down gracefully; see Serve.
func (s *Server) Run(ctx context.Context) error {
	listener, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, listener)
}

// Serve serves on listener until ctx is cancelled. Then it reports not ready
// on /readyz while it keeps serving for the configured drain period, stops
// accepting connections, and waits up to the shutdown timeout for requests in
// flight to complete. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, listener net.Listener) error {
	httpServer := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}

	served := make(chan error, 1)
	go func() { served <- httpServer.Serve(listener) }()
	s.log.Info("listening", "addr", listener.Addr().String(), "success_rate", s.cfg.SuccessRate,
		"seeded", s.cfg.Seed != nil, "auth", s.cfg.AuthToken != "")

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	s.draining.Store(true)
	s.log.Info("draining", "drain", s.cfg.Drain.String())
	drain := time.NewTimer(s.cfg.Drain)
	select {
	case <-drain.C:
	case err := <-served:
		drain.Stop()
		return fmt.Errorf("serve: %w", err)
	}

	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		_ = httpServer.Close()
		return fmt.Errorf("shutdown: requests still in flight after %v: %w", s.cfg.ShutdownTimeout, err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	s.log.Info("stopped")
	return nil
}
