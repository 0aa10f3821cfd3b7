package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/tinjis/tinjis/payments/routes"
)

// requestContext is echo's context of one request plus what its handler
// leaves for the request's log line: the charge, when it answered one.
// Contexts are recycled, so a charge allocates no map to hand it over (as
// echo's c.Set would) and no buffer for its answer.
type requestContext struct {
	echo.Context
	charge  ChargeResponse
	charged bool
	// answer holds the charge's JSON answer while it is written.
	answer [128]byte
}

var requestContexts = sync.Pool{New: func() any { return new(requestContext) }}

// logRequests writes one JSON line per request, once the error handler has
// answered any error; a charge's line carries its outcome. Probe and
// metrics requests are logged at debug level.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		rc := requestContexts.Get().(*requestContext)
		rc.Context, rc.charged = c, false
		defer func() {
			rc.Context = nil
			requestContexts.Put(rc)
		}()

		start := time.Now()
		err := next(rc)
		if err != nil {
			c.Error(err)
		}
		s.logRequest(rc, time.Since(start), err)
		// Returned for the middlewares above; echo's error handler, called
		// again with it, finds the response committed.
		return err
	}
}

// noteCharge leaves the charge's answer for the request's log line.
func noteCharge(c echo.Context, charge ChargeResponse) {
	if rc, ok := c.(*requestContext); ok {
		rc.charge, rc.charged = charge, true
	}
}

// answerBuffer is an empty buffer for a charge's JSON answer, recycled
// with the request's context where there is one.
func answerBuffer(c echo.Context) []byte {
	if rc, ok := c.(*requestContext); ok {
		return rc.answer[:0]
	}
	return make([]byte, 0, len(requestContext{}.answer))
}

func (s *Server) logRequest(c *requestContext, latency time.Duration, err error) {
	req, res := c.Request(), c.Response()
	path := req.URL.Path
	if path == "" {
		path = "/"
	}
	level := slog.LevelInfo
	switch {
	case res.Status >= http.StatusInternalServerError:
		level = slog.LevelError
	case path == routes.Health || path == routes.Ready || path == routes.Metrics:
		level = slog.LevelDebug
	}
	line := s.requests.line(level)
	if line == nil {
		return
	}
	if c.charged {
		line.Str(slog.MessageKey, "charge")
	} else {
		line.Str(slog.MessageKey, "request")
	}
	requestID := req.Header.Get(echo.HeaderXRequestID)
	if requestID == "" {
		requestID = res.Header().Get(echo.HeaderXRequestID)
	}
	line.Str("request_id", requestID).
		Str("method", req.Method).
		Str("path", path).
		Int("status", res.Status).
		// An integer: a float is written through strconv's shortest form,
		// which costs more than the rest of the line.
		Int64("duration_us", latency.Microseconds()).
		Str("remote_ip", c.RealIP())
	if c.charged {
		line.Str("outcome", outcome(c.charge.Result)).
			Str("charge_id", c.charge.ChargeID).
			Int64("customer_id", c.charge.CustomerID).
			Str("amount", string(c.charge.Amount)).
			Str("currency", c.charge.Currency)
	}
	if err != nil {
		if level == slog.LevelError {
			line.Str("error", err.Error())
		} else {
			_, answered := s.describe(err)
			line.Str("error", answered)
		}
	}
	line.Send() // a lost log line must not fail the request
}

// requestLog writes the line of each request. A line has the fields, in the
// order, that slog's JSON handler writes for the server's other lines (time,
// level, msg, then the attributes), so the whole log reads alike; zerolog
// encodes it without allocating, where slog's handler took a fifth of the
// time spent on a charge.
type requestLog struct {
	out   zerolog.Logger
	level slog.Level
}

func newRequestLog(out io.Writer, level slog.Level) requestLog {
	return requestLog{out: zerolog.New(out), level: level}
}

// line starts a line at level, its time and level written, or returns nil
// when level is below the log's; zerolog's methods on nil do nothing.
func (l *requestLog) line(level slog.Level) *zerolog.Event {
	if level < l.level {
		return nil
	}
	var stamp [len(time.RFC3339Nano)]byte
	// As slog's JSON handler writes them: the time in RFC 3339 with up to
	// nanoseconds, the level by slog's name for it (Log() writes none of
	// zerolog's own).
	return l.out.Log().
		Bytes(slog.TimeKey, time.Now().AppendFormat(stamp[:0], time.RFC3339Nano)).
		Str(slog.LevelKey, level.String())
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

// httpMetrics counts requests and observes their latency and sizes, by
// status, method and route. Its series are those of echo-contrib's
// echoprometheus middleware (names, help, labels, buckets), which it
// replaces: that middleware looks up each of its four series by label values
// on every request, where this one looks them up once per label combination.
type httpMetrics struct {
	requests                            *prometheus.CounterVec
	duration, requestSize, responseSize *prometheus.HistogramVec

	mu     sync.RWMutex
	series map[seriesKey]httpSeries
}

// seriesKey is a combination of label values. Each value is bounded: the
// status codes the server answers, knownMethod's methods and the registered
// routes ("" for a path without a route), never what a client writes.
type seriesKey struct {
	code          int
	method, route string
}

type httpSeries struct {
	requests                            prometheus.Counter
	duration, requestSize, responseSize prometheus.Observer
}

// httpLabels are echoprometheus's labels. Host is always empty: a label
// value must not come from a header the client chooses.
var httpLabels = []string{"code", "method", "host", "url"}

// latencyBuckets start below a millisecond: a charge takes microseconds.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// sizeBuckets are echoprometheus's, from 1 KiB to 10 MiB.
var sizeBuckets = []float64{1 << 10, 2 << 10, 5 << 10, 10 << 10, 100 << 10, 500 << 10, 1 << 20, 2.5 * (1 << 20), 5 << 20, 10 << 20}

func newHTTPMetrics(registry prometheus.Registerer) (*httpMetrics, error) {
	histogram := func(name, help string, buckets []float64) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "payments", Subsystem: "http", Name: name, Help: help, Buckets: buckets,
		}, httpLabels)
	}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "payments", Subsystem: "http", Name: "requests_total",
			Help: "How many HTTP requests processed, partitioned by status code and HTTP method.",
		}, httpLabels),
		duration:     histogram("request_duration_seconds", "The HTTP request latencies in seconds.", latencyBuckets),
		responseSize: histogram("response_size_bytes", "The HTTP response sizes in bytes.", sizeBuckets),
		requestSize:  histogram("request_size_bytes", "The HTTP request sizes in bytes.", sizeBuckets),
		series:       make(map[seriesKey]httpSeries),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.responseSize, m.requestSize} {
		if err := registry.Register(c); err != nil {
			return nil, fmt.Errorf("register the HTTP metrics: %w", err)
		}
	}
	return m, nil
}

// middleware observes every request to the charge address (the metrics
// address has a server of its own, which this does not wrap).
func (m *httpMetrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		requestSize := approximateRequestSize(req)
		start := time.Now()
		err := next(c)
		elapsed := time.Since(start).Seconds()

		series := m.seriesFor(seriesKey{code: statusOf(c, err), method: knownMethod(req.Method), route: c.Path()})
		series.requests.Inc()
		series.duration.Observe(elapsed)
		series.requestSize.Observe(float64(requestSize))
		series.responseSize.Observe(float64(c.Response().Size))
		return err
	}
}

func (m *httpMetrics) seriesFor(key seriesKey) httpSeries {
	m.mu.RLock()
	series, ok := m.series[key]
	m.mu.RUnlock()
	if ok {
		return series
	}
	labels := []string{strconv.Itoa(key.code), key.method, "", key.route}
	series = httpSeries{
		requests:     m.requests.WithLabelValues(labels...),
		duration:     m.duration.WithLabelValues(labels...),
		requestSize:  m.requestSize.WithLabelValues(labels...),
		responseSize: m.responseSize.WithLabelValues(labels...),
	}
	m.mu.Lock()
	m.series[key] = series
	m.mu.Unlock()
	return series
}

// statusOf is the status a request is counted under: the answer's, or for an
// error not yet answered, the error's (500 unless it is an echo.HTTPError).
func statusOf(c echo.Context, err error) int {
	status := c.Response().Status
	if err != nil {
		var httpErr *echo.HTTPError
		if errors.As(err, &httpErr) {
			status = httpErr.Code
		}
		if status == 0 || status == http.StatusOK {
			status = http.StatusInternalServerError
		}
	}
	return status
}

// approximateRequestSize is echoprometheus's measure of a request: its path,
// method, protocol, header names and values, host and body length.
func approximateRequestSize(r *http.Request) int {
	size := len(r.URL.Path) + len(r.Method) + len(r.Proto) + len(r.Host)
	for name, values := range r.Header {
		size += len(name)
		for _, value := range values {
			size += len(value)
		}
	}
	if r.ContentLength != -1 {
		size += int(r.ContentLength)
	}
	return size
}

func knownMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}
