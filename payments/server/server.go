// Package server is the payment provider that Antaeus calls: an echo HTTP
// server that answers each charge with {"result":true} (paid) or
// {"result":false} (declined) at a configured success rate.
package server

import (
	"context"
	"errors"
	"fmt"
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
	// Logger receives one JSON line per request. Nil discards the log.
	Logger *slog.Logger
	// Registry receives the HTTP and charge metrics and is served on
	// /metrics of the metrics address.
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
	decider  Decider
	echo     *echo.Echo
	metrics  *echo.Echo
	charges  chargeCounters
	draining atomic.Bool
}

// New builds a Server from a valid configuration and its collaborators.
func New(cfg settings.Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	if deps.Decider == nil {
		deps.Decider = NewRandomDecider(cfg.SuccessRate, cfg.Seed)
	}

	s := &Server{cfg: cfg, log: deps.Logger, decider: deps.Decider, echo: echo.New(), metrics: echo.New()}
	var err error
	if s.charges, err = newChargeCounters(deps.Registry); err != nil {
		return nil, err
	}
	httpMetrics, err := httpMetricsMiddleware(deps.Registry)
	if err != nil {
		return nil, err
	}

	e := s.echo
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	// Log the peer address; X-Forwarded-For is whatever the client wrote.
	e.IPExtractor = echo.ExtractIPDirect()

	e.Use(
		middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: randomID}),
		s.requestLogger(),
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			DisableStackAll: true,
			LogErrorFunc:    s.logPanic,
		}),
		httpMetrics,
	)

	charge := []echo.MiddlewareFunc{
		middleware.BodyLimit(strconv.FormatInt(cfg.BodyLimit, 10)),
	}
	if cfg.AuthToken != "" {
		charge = append([]echo.MiddlewareFunc{bearerAuth(cfg.AuthToken)}, charge...)
	}
	e.POST(routes.Charge, s.charge, charge...)
	e.POST(routes.ChargeAlias, s.charge, charge...)
	e.GET(routes.Health, s.health)
	e.GET(routes.Ready, s.ready)

	// The metrics server answers scrapes only. The probes stay on the
	// charge address: they tell whether charges are served.
	m := s.metrics
	m.HideBanner = true
	m.HidePort = true
	m.HTTPErrorHandler = s.handleError
	m.GET(routes.Metrics, echoprometheus.NewHandlerWithConfig(echoprometheus.HandlerConfig{Gatherer: deps.Registry}))
	return s, nil
}

// Handler returns the HTTP handler of the charge address (charges and
// probes), for tests and for embedding in another server.
func (s *Server) Handler() http.Handler { return s.echo }

// MetricsHandler returns the HTTP handler of the metrics address.
func (s *Server) MetricsHandler() http.Handler { return s.metrics }

// Listeners are where a Server serves: charges and probes on Charge,
// /metrics on Metrics.
type Listeners struct {
	Charge, Metrics net.Listener
}

// Run listens on the configured charge and metrics addresses and serves
// until ctx is cancelled, then shuts down gracefully; see Serve.
func (s *Server) Run(ctx context.Context) error {
	charge, err := listen(s.cfg.Addr, "charges")
	if err != nil {
		return err
	}
	metrics, err := listen(s.cfg.MetricsAddr, "metrics")
	if err != nil {
		charge.Close()
		return err
	}
	return s.Serve(ctx, Listeners{Charge: charge, Metrics: metrics})
}

func listen(addr, what string) (net.Listener, error) {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s for %s: %w", addr, what, err)
	}
	return listener, nil
}

// Serve serves charges and metrics on their listeners until ctx is
// cancelled. Then it reports not ready on /readyz while both keep serving
// for the configured drain period, stops accepting connections, and waits
// up to the shutdown timeout for requests in flight to complete. It returns
// nil after a clean shutdown; if either server fails, it stops the other
// and returns the error.
func (s *Server) Serve(ctx context.Context, listeners Listeners) error {
	servers := []*serving{
		{what: "charges", server: s.httpServer(s.echo), listener: listeners.Charge},
		{what: "metrics", server: s.httpServer(s.metrics), listener: listeners.Metrics},
	}
	served := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { served <- srv.serve() }()
	}
	closeAll := func() {
		for _, srv := range servers {
			_ = srv.server.Close()
		}
	}
	s.log.Info("listening", "addr", listeners.Charge.Addr().String(), "metrics_addr", listeners.Metrics.Addr().String(),
		"success_rate", s.cfg.SuccessRate, "seeded", s.cfg.Seed != nil, "auth", s.cfg.AuthToken != "")

	select {
	case err := <-served:
		closeAll()
		return err
	case <-ctx.Done():
	}

	s.draining.Store(true)
	s.log.Info("draining", "drain", s.cfg.Drain.String())
	drain := time.NewTimer(s.cfg.Drain)
	select {
	case <-drain.C:
	case err := <-served:
		drain.Stop()
		closeAll()
		return err
	}

	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	// Charges first: metrics stay up while the last charges complete.
	for _, srv := range servers {
		if err := srv.server.Shutdown(shutdownCtx); err != nil {
			closeAll()
			return fmt.Errorf("shutdown: %s requests still in flight after %v: %w", srv.what, s.cfg.ShutdownTimeout, err)
		}
	}
	for range servers {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	s.log.Info("stopped")
	return nil
}

// serving is one of the server's HTTP servers and where it listens.
type serving struct {
	what     string
	server   *http.Server
	listener net.Listener
}

func (srv *serving) serve() error {
	return fmt.Errorf("serve %s: %w", srv.what, srv.server.Serve(srv.listener))
}

func (s *Server) httpServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}
