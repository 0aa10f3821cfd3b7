package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinjis/tinjis/payments/settings"
)

// freeListeners listens on two free loopback ports.
func freeListeners(t *testing.T) Listeners {
	t.Helper()
	var l Listeners
	for _, listener := range []*net.Listener{&l.Charge, &l.Metrics} {
		var err error
		if *listener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// startServer serves s on free loopback ports until the test ends and
// returns the charge and metrics addresses.
func startServer(t *testing.T, s *Server) (charge, metrics string) {
	t.Helper()
	l := freeListeners(t)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Charge.Addr().String(), l.Metrics.Addr().String()
}

// rawStockRequest is the request Antaeus writes on the wire, byte for byte
// apart from header order, which the JDK does not fix.
func rawStockRequest(host, path, body string) string {
	return "POST " + path + " HTTP/1.1\r\n" +
		"Content-Type: application/json\r\n" +
		"Accept: */*\r\n" +
		"Accept-Encoding: gzip, deflate\r\n" +
		"User-Agent: khttp/1.0.0-SNAPSHOT\r\n" +
		"Connection: keep-alive\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Host: " + host + "\r\n" +
		"\r\n" + body
}

func TestTheStockRequestOverTCPGetsABooleanResultOnAKeptAliveConnection(t *testing.T) {
	cfg := testConfig()
	cfg.Drain = 0
	addr, _ := startServer(t, newServer(t, cfg, Deps{}))

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reader := bufio.NewReader(conn)
	// Antaeus charges invoices one after another on one connection.
	for i, body := range []string{stockBody, `{"currency":{},"customer_id":2,"value":57}`, `{"customer_id":1,"value":145.4,"currency":"USD"}`} {
		if _, err := io.WriteString(conn, rawStockRequest(addr, "/", body)); err != nil {
			t.Fatalf("charge %d: write: %v", i, err)
		}
		resp, err := http.ReadResponse(reader, nil)
		if err != nil {
			t.Fatalf("charge %d: read response: %v", i, err)
		}
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("charge %d: read body: %v", i, err)
		}

		if resp.StatusCode != http.StatusOK {
			t.Errorf("charge %d: status = %d, want 200", i, resp.StatusCode)
		}
		if got := resp.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("charge %d: Content-Type = %q, want application/json", i, got)
		}
		if resp.Close {
			t.Errorf("charge %d: the server closes the connection Antaeus keeps alive", i)
		}
		resultOf(t, answer)
	}
}

// heldDecider holds each charge until released, so a test can keep a
// request in flight.
type heldDecider struct {
	entered chan struct{}
	release chan struct{}
}

func (d heldDecider) Paid() bool {
	d.entered <- struct{}{}
	<-d.release
	return true
}

func TestShutdownDrainsThenCompletesTheRequestsInFlight(t *testing.T) {
	cfg := testConfig()
	cfg.Drain = time.Second
	decider := heldDecider{entered: make(chan struct{}), release: make(chan struct{})}
	s := newServer(t, cfg, Deps{Decider: decider})
	listeners := freeListeners(t)
	addr := listeners.Charge.Addr().String()
	ctx, shutdown := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, listeners) }()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	readyStatus := func() int {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		return resp.StatusCode
	}
	if got := readyStatus(); got != http.StatusOK {
		t.Fatalf("/readyz before shutdown = %d, want 200", got)
	}

	type answer struct {
		status int
		body   []byte
		err    error
	}
	inFlight := make(chan answer, 1)
	go func() {
		resp, err := client.Post("http://"+addr+"/v1/charges", "application/json", strings.NewReader(stockBody))
		if err != nil {
			inFlight <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		inFlight <- answer{resp.StatusCode, body, err}
	}()
	<-decider.entered

	shutdown()
	eventually(t, 5*time.Second, "/readyz answers 503 during the drain", func() bool {
		return readyStatus() == http.StatusServiceUnavailable
	})
	eventually(t, 5*time.Second, "the server stops accepting connections after the drain", func() bool {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	select {
	case <-served:
		t.Fatal("Serve returned while a request was in flight")
	default:
	}

	close(decider.release)
	got := <-inFlight
	if got.err != nil {
		t.Fatalf("the request in flight failed: %v", got.err)
	}
	if got.status != http.StatusOK || !resultOf(t, got.body) {
		t.Errorf("the request in flight got %d %s, want 200 with result true", got.status, got.body)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after a clean shutdown", err)
	}
}

func TestReadinessAnswersAJSONErrorWhileDraining(t *testing.T) {
	s := newServer(t, testConfig(), Deps{})
	s.draining.Store(true)
	rec := serve(s.Handler(), httpGet("/readyz"))

	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", rec.Code)
	}
	if got, want := errorOf(t, rec.Body.Bytes()), "the server is shutting down"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestProbesAnswerJSON(t *testing.T) {
	h := newServer(t, testConfig(), Deps{}).Handler()
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		t.Run(path, func(t *testing.T) {
			rec := serve(h, httpGet(path))
			if rec.Code != http.StatusOK {
				t.Errorf("status = %d, want 200", rec.Code)
			}
			if got := decodeStrict[statusBody](t, rec.Body.Bytes()).Status; got != want {
				t.Errorf("status field = %q, want %q", got, want)
			}
		})
	}
}

func TestRunFailsWhenEitherAddressIsTaken(t *testing.T) {
	for _, tt := range []struct {
		what string
		take func(cfg *settings.Config, taken string)
	}{
		{"charges", func(cfg *settings.Config, taken string) { cfg.Addr = taken }},
		{"metrics", func(cfg *settings.Config, taken string) { cfg.MetricsAddr = taken }},
	} {
		t.Run("the "+tt.what+" address", func(t *testing.T) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			cfg := testConfig()
			tt.take(&cfg, taken.Addr().String())

			err = newServer(t, cfg, Deps{}).Run(t.Context())
			want := "listen on " + taken.Addr().String() + " for " + tt.what
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Run = %v, want an error saying %q", err, want)
			}
		})
	}
}

func TestMetricsCountChargesByOutcomeAndRequestLatency(t *testing.T) {
	s := newServer(t, seeded(testConfig(), 3), Deps{})
	h := s.Handler()
	paid, declined := 0, 0
	for _, result := range outcomes(t, h, 20) {
		if result {
			paid++
		} else {
			declined++
		}
	}
	serve(h, httpGet("/no-such-path-123"))
	scrape := s.MetricsHandler()
	serve(scrape, httpGet("/metrics"))
	rec := serve(scrape, httpGet("/metrics"))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	metrics := rec.Body.String()

	for _, want := range []string{
		fmt.Sprintf("payments_charges_total{outcome=\"paid\"} %d\n", paid),
		fmt.Sprintf("payments_charges_total{outcome=\"declined\"} %d\n", declined),
		`payments_http_request_duration_seconds_count{code="200",host="",method="POST",url="/"} 20` + "\n",
		`payments_http_request_duration_seconds_bucket{code="200",host="",method="POST",url="/",le="0.0005"}`,
		`payments_http_requests_total{code="404",host="",method="GET",url=""} 1` + "\n",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, unwanted := range []string{`url="/metrics"`, "no-such-path-123"} {
		if strings.Contains(metrics, unwanted) {
			t.Errorf("/metrics has %q", unwanted)
		}
	}
}

func TestEachChargeIsLoggedOnceWithItsOutcomeAndRequestID(t *testing.T) {
	var log bytes.Buffer
	h := newServer(t, testConfig(), Deps{Logger: jsonLogger(&log)}).Handler()

	req := stockRequest("/", stockBody)
	req.Header.Set("X-Request-Id", "req-from-client")
	given := serve(h, req)
	generated := serve(h, stockRequest("/v1/charges", stockBody))

	lines := logLines(t, &log)
	if len(lines) != 2 {
		t.Fatalf("logged %d lines for 2 charges, want 2: %v", len(lines), lines)
	}
	for i, rec := range []*httptest.ResponseRecorder{given, generated} {
		answer := decodeStrict[ChargeResponse](t, rec.Body.Bytes())
		line := lines[i]
		requestID := rec.Header().Get("X-Request-Id")
		if i == 0 && requestID != "req-from-client" {
			t.Errorf("X-Request-Id = %q, want the client's req-from-client", requestID)
		}
		if requestID == "" {
			t.Errorf("charge %d answered without X-Request-Id", i)
		}
		want := map[string]any{
			"level":       "INFO",
			"msg":         "charge",
			"request_id":  requestID,
			"method":      "POST",
			"status":      float64(200),
			"outcome":     outcome(answer.Result),
			"charge_id":   answer.ChargeID,
			"customer_id": float64(1),
			"amount":      "356.72",
		}
		for key, value := range want {
			if line[key] != value {
				t.Errorf("charge %d log %s = %v, want %v", i, key, line[key], value)
			}
		}
	}
}

func TestRejectedRequestsAreLoggedWithTheirErrorAndProbesAtDebug(t *testing.T) {
	var log bytes.Buffer
	h := newServer(t, testConfig(), Deps{Logger: jsonLogger(&log)}).Handler()
	serve(h, stockRequest("/", `{"currency":{},"customer_id":0,"value":1}`))
	serve(h, httpGet("/healthz"))

	lines := logLines(t, &log)
	if len(lines) != 2 {
		t.Fatalf("logged %d lines, want 2: %v", len(lines), lines)
	}
	rejected, probe := lines[0], lines[1]
	if rejected["msg"] != "request" || rejected["status"] != float64(400) || rejected["error"] != "customer_id must be a positive integer" {
		t.Errorf("rejected charge logged as %v", rejected)
	}
	if probe["level"] != "DEBUG" || probe["path"] != "/healthz" {
		t.Errorf("probe logged as %v, want level DEBUG", probe)
	}
}

func TestNewRefusesAnInvalidConfigBuiltByHand(t *testing.T) {
	tests := []struct {
		name   string
		change func(*settings.Config)
		want   string
	}{
		{"a rate above 1", func(c *settings.Config) { c.SuccessRate = 1.5 },
			`PAYMENTS_SUCCESS_RATE must be a number from 0 to 1, got "1.5"`},
		{"an empty address", func(c *settings.Config) { c.Addr = "" },
			`PAYMENTS_ADDR must be host:port such as ":9000", got ""`},
		{"metrics on the charge port", func(c *settings.Config) { c.MetricsAddr = "127.0.0.1:9000" },
			`PAYMENTS_METRICS_ADDR must be host:port such as ":9090", on a port other than PAYMENTS_ADDR's, got "127.0.0.1:9000"`},
		{"no body limit", func(c *settings.Config) { c.BodyLimit = 0 },
			`BodyLimit must be a positive number of bytes, got "0"`},
		{"no idle timeout", func(c *settings.Config) { c.IdleTimeout = 0 },
			`IdleTimeout must be a positive duration, got "0s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := settings.Default()
			tt.change(&cfg)
			_, err := New(cfg, Deps{})
			if err == nil || err.Error() != tt.want {
				t.Errorf("New = %v, want %q", err, tt.want)
			}
		})
	}
}
