package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tinjis/tinjis/payments/routes"
)

// requestLogger writes one JSON line per request; a charge's line carries its
// outcome. Probe and metrics requests are logged at debug level.
func (s *Server) requestLogger() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		HandleError:   true,
		LogLatency:    true,
		LogMethod:     true,
		LogURIPath:    true,
		LogRequestID:  true,
		LogStatus:     true,
		LogRemoteIP:   true,
		LogError:      true,
		LogValuesFunc: s.logRequest,
	})
}

func (s *Server) logRequest(c echo.Context, v middleware.RequestLoggerValues) error {
	level := slog.LevelInfo
	switch {
	case v.Status >= http.StatusInternalServerError:
		level = slog.LevelError
	case v.URIPath == routes.Health || v.URIPath == routes.Ready || v.URIPath == routes.Metrics:
		level = slog.LevelDebug
	}
	ctx := c.Request().Context()
	if !s.log.Enabled(ctx, level) {
		return nil
	}

	attrs := make([]slog.Attr, 0, 13)
	attrs = append(attrs,
		slog.String("request_id", v.RequestID),
		slog.String("method", v.Method),
		slog.String("path", v.URIPath),
		slog.Int("status", v.Status),
		// An integer: slog writes a float64 through encoding/json, which took
		// a third of the time spent formatting the line.
		slog.Int64("duration_us", v.Latency.Microseconds()),
		slog.String("remote_ip", v.RemoteIP),
	)
	message := "request"
	if charge, ok := c.Get(chargeLogKey).(*ChargeResponse); ok {
		message = "charge"
		attrs = append(attrs,
			slog.String("outcome", outcome(charge.Result)),
			slog.String("charge_id", charge.ChargeID),
			slog.Int64("customer_id", charge.CustomerID),
			slog.String("amount", string(charge.Amount)),
			slog.String("currency", charge.Currency),
		)
	}
	if v.Error != nil {
		if level == slog.LevelError {
			attrs = append(attrs, slog.String("error", v.Error.Error()))
		} else {
			_, answered := s.describe(v.Error)
			attrs = append(attrs, slog.String("error", answered))
		}
	}
	// A record without a caller pc: the caller would be this middleware,
	// which says nothing, and finding it costs a stack walk per request.
	record := slog.NewRecord(time.Now(), level, message, 0)
	record.AddAttrs(attrs...)
	_ = s.log.Handler().Handle(ctx, record) // a lost log line must not fail the request
	return nil
}

func (s *Server) logPanic(c echo.Context, err error, stack []byte) error {
	s.log.ErrorContext(c.Request().Context(), "panic while serving a request", "error", err,
		"stack", string(stack), "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	return err
}

type chargeCounters struct {
	paid, declined prometheus.Counter
}

func newChargeCounters(registry prometheus.Registerer) (chargeCounters, error) {
	charges := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "payments",
		Name:      "charges_total",
		Help:      "Charges answered, by outcome (paid or declined).",
	}, []string{"outcome"})
	if err := registry.Register(charges); err != nil {
		return chargeCounters{}, fmt.Errorf("register the charge counter: %w", err)
	}
	return chargeCounters{
		paid:     charges.WithLabelValues(outcomePaid),
		declined: charges.WithLabelValues(outcomeDeclined),
	}, nil
}

func (c chargeCounters) count(paid bool) {
	if paid {
		c.paid.Inc()
	} else {
		c.declined.Inc()
	}
}

// latencyBuckets start below a millisecond: a charge takes microseconds.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// httpMetricsMiddleware counts requests and observes their latency, by
// status, method and route.
func httpMetricsMiddleware(registry prometheus.Registerer) (echo.MiddlewareFunc, error) {
	mw, err := echoprometheus.MiddlewareConfig{
		Namespace:  "payments",
		Subsystem:  "http",
		Registerer: registry,
		Skipper:    func(c echo.Context) bool { return c.Path() == routes.Metrics },
		// Label values must not come from what a client chooses (path, Host
		// header, method name): each new value would be a new time series.
		DoNotUseRequestPathFor404: true,
		LabelFuncs: map[string]echoprometheus.LabelValueFunc{
			"host":   func(echo.Context, error) string { return "" },
			"method": func(c echo.Context, _ error) string { return knownMethod(c.Request().Method) },
		},
		HistogramOptsFunc: func(opts prometheus.HistogramOpts) prometheus.HistogramOpts {
			if opts.Name == "request_duration_seconds" {
				opts.Buckets = latencyBuckets
			}
			return opts
		},
	}.ToMiddleware()
	if err != nil {
		return nil, fmt.Errorf("register the HTTP metrics: %w", err)
	}
	return mw, nil
}

func knownMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}
