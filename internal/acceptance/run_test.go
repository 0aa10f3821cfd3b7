package acceptance_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinjis/tinjis/internal/acceptance"
	"github.com/tinjis/tinjis/internal/fakeantaeus"
	"github.com/tinjis/tinjis/payments/server"
	"github.com/tinjis/tinjis/payments/settings"
)

// realPayments is the payments service the image runs, at a success rate,
// with a fixed seed so that every run of the test sees the same outcomes.
func realPayments(t *testing.T, rate float64, seed int64) http.Handler {
	t.Helper()
	cfg := settings.Default()
	cfg.SuccessRate = rate
	cfg.Seed = &seed
	payments, err := server.New(cfg, server.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return payments.Handler()
}

// stack is a fake Antaeus calling a payment provider, both on loopback.
type stack struct {
	antaeus *fakeantaeus.Antaeus
	url     *url.URL
}

// startStack serves provider and a fake Antaeus whose
// PAYMENT_PROVIDER_ENDPOINT is the provider's bare URL, as the stacks set it.
// wrap, when not nil, wraps Antaeus's handler.
func startStack(t *testing.T, provider http.Handler, invoicesPerCustomer int, wrap func(http.Handler) http.Handler) stack {
	t.Helper()
	providerServer := httptest.NewServer(provider)
	t.Cleanup(providerServer.Close)
	antaeus, err := fakeantaeus.New(fakeantaeus.Options{
		ProviderEndpoint:    providerServer.URL,
		InvoicesPerCustomer: invoicesPerCustomer,
		Seed:                1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(antaeus.Close)
	var handler http.Handler = antaeus
	if wrap != nil {
		handler = wrap(antaeus)
	}
	antaeusServer := httptest.NewServer(handler)
	t.Cleanup(antaeusServer.Close)
	return stack{antaeus: antaeus, url: mustParse(t, antaeusServer.URL)}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// testConfig is DefaultConfig with waits short enough for a test.
func testConfig(base *url.URL, expectedRate float64) acceptance.Config {
	cfg := acceptance.DefaultConfig()
	cfg.BaseURL = base
	cfg.ExpectedRate = expectedRate
	cfg.HealthTimeout = 5 * time.Second
	cfg.HealthPoll = 10 * time.Millisecond
	cfg.PayTimeout = 30 * time.Second
	return cfg
}

func run(t *testing.T, cfg acceptance.Config) (acceptance.Result, string, error) {
	t.Helper()
	var out bytes.Buffer
	result, err := acceptance.Run(context.Background(), cfg, &http.Client{}, &out)
	t.Logf("output:\n%s", out.String())
	return result, out.String(), err
}

func TestARunAtHalfRateAgainstRealPaymentsPassesAndPrintsTheTable(t *testing.T) {
	s := startStack(t, realPayments(t, 0.5, 42), 0, nil)

	result, out, err := run(t, testConfig(s.url, 0.5))
	if err != nil {
		t.Fatalf("Run failed: %v", err)
	}

	// The estimate counts exactly the charges Antaeus made.
	var paid, declined int
	for _, charge := range s.antaeus.Charges() {
		switch {
		case charge.Err != nil:
			t.Fatalf("a charge failed inside Antaeus: %v", charge.Err)
		case charge.Paid:
			paid++
		default:
			declined++
		}
	}
	if result.Paid != paid || result.Declined != declined {
		t.Errorf("result counts %d paid and %d declined, Antaeus made %d paid and %d declined charges",
			result.Paid, result.Declined, paid, declined)
	}
	if result.Paid != 8 {
		t.Errorf("%d invoices were paid, want the 8 PENDING ones", result.Paid)
	}
	if len(result.Calls) != declined+1 {
		t.Errorf("%d calls for %d declines, want one call per decline plus the last one answering true", len(result.Calls), declined)
	}

	if !strings.Contains(out, "call  answer  newly PAID  PAID  PENDING  PAID share  success estimate  invoices by id") {
		t.Errorf("the output has no table header")
	}
	if !strings.Contains(out, "0     -                -     2        8         20%  -                 P....P....") {
		t.Errorf("the output has no row for the invoices before the first call")
	}
	rows := regexp.MustCompile(`(?m)^[1-9][0-9]* +(true|false) +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+% +[0-9]+/[0-9]+ = [01]\.[0-9]{2} +[P.]{10}$`).FindAllString(out, -1)
	if len(rows) != len(result.Calls) {
		t.Errorf("the table has %d call rows, want one per call (%d)", len(rows), len(result.Calls))
	}
	if !regexp.MustCompile(`(?m)^Invoices after the run:\nid +customer +amount +currency +status\n1 +1 +[0-9.]+ +USD +PAID\n`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^10 +2 +[0-9.]+ +DKK +PAID$`).MatchString(out) {
		t.Errorf("the output does not list the invoices after the run")
	}
	if !strings.Contains(out, "Exact two-sided binomial test against the configured rate 0.5") {
		t.Errorf("the output does not state the test")
	}
}

func TestARunFailsWhenPaymentsBreaksAntaeussContract(t *testing.T) {
	answer := func(contentType, body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", contentType)
			_, _ = io.WriteString(w, body)
		})
	}
	tests := []struct {
		name     string
		provider http.Handler
	}{
		{"an HTML page", answer("text/html", "<!doctype html><title>Payments</title><p>paid</p>")},
		{"plain text", answer("text/plain", "paid")},
		{"a JSON object without result", answer("application/json", `{"paid":true}`)},
		{"a numeric result", answer("application/json", `{"result":1}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startStack(t, tt.provider, 0, nil)
			_, _, err := run(t, testConfig(s.url, 0.5))
			if !errors.Is(err, acceptance.ErrProviderContract) {
				t.Fatalf("Run error = %v, want the provider contract error", err)
			}
			if !strings.HasPrefix(err.Error(), "call 1: Antaeus answered 500") {
				t.Errorf("error %q does not say which call answered 500", err)
			}
		})
	}
}

func TestARunJudgesTheSuccessRate(t *testing.T) {
	tests := []struct {
		name                string
		providerRate        float64
		expectedRate        float64
		invoicesPerCustomer int
		wantErr             error
	}{
		{"a provider paying half the charges is plausible for 0.5", 0.5, 0.5, 0, nil},
		{"a provider paying nothing is implausible for 0.5", 0, 0.5, 0, acceptance.ErrImplausible},
		{"a provider paying everything is implausible for 0.5 given enough invoices", 1, 0.5, 20, acceptance.ErrImplausible},
		{"a provider paying half the charges is implausible for 0.05", 0.5, 0.05, 20, acceptance.ErrImplausible},
		{"a provider paying nothing is plausible for 0", 0, 0, 0, nil},
		{"a provider paying everything is plausible for 1", 1, 1, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startStack(t, realPayments(t, tt.providerRate, 7), tt.invoicesPerCustomer, nil)
			result, _, err := run(t, testConfig(s.url, tt.expectedRate))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Run error = %v, want %v", err, tt.wantErr)
			}
			if result.Charges() == 0 {
				t.Errorf("the verdict rests on no charge")
			}
		})
	}
}

func TestARunOfAProviderPayingNothingStopsAtTheCallBound(t *testing.T) {
	s := startStack(t, realPayments(t, 0, 1), 0, nil)
	cfg := testConfig(s.url, 0.5)
	cfg.MaxCalls = 12

	result, out, err := run(t, cfg)
	if !errors.Is(err, acceptance.ErrImplausible) {
		t.Fatalf("Run error = %v, want implausible", err)
	}
	if len(result.Calls) != 12 || result.Declined != 12 || result.Paid != 0 {
		t.Errorf("result = %d calls, %d declined, %d paid; want 12, 12, 0", len(result.Calls), result.Declined, result.Paid)
	}
	if !strings.Contains(out, "Stopped at the bound of 12 calls with 8 invoices still PENDING.") {
		t.Errorf("the output does not say the bound was hit")
	}
}

func TestARunWithNothingPendingFailsForLackOfCharges(t *testing.T) {
	s := startStack(t, realPayments(t, 1, 1), 0, nil)
	resp, err := http.Post(s.url.JoinPath("/rest/v1/invoices/pay").String(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	_, _, err = run(t, testConfig(s.url, 0.5))
	if !errors.Is(err, acceptance.ErrNoCharges) {
		t.Fatalf("Run error = %v, want no charges", err)
	}
}

// unhealthyFor answers 503 to the first n health checks.
func unhealthyFor(n int32) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		var checks atomic.Int32
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/rest/health" && checks.Add(1) <= n {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestARunWaitsForAntaeusToBecomeHealthy(t *testing.T) {
	s := startStack(t, realPayments(t, 0.5, 42), 0, unhealthyFor(3))
	if _, out, err := run(t, testConfig(s.url, 0.5)); err != nil || !strings.Contains(out, "Antaeus is healthy") {
		t.Fatalf("Run error = %v after Antaeus turned healthy, want a pass", err)
	}
}

func closedPortURL(t *testing.T) *url.URL {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	listener.Close()
	return mustParse(t, "http://"+addr)
}

func TestARunFailsClearlyWhenAntaeusNeverBecomesHealthy(t *testing.T) {
	tests := []struct {
		name     string
		url      func(t *testing.T) *url.URL
		wantLast string
	}{
		{"nothing listens", closedPortURL, "connection refused"},
		{"health answers 503", func(t *testing.T) *url.URL {
			return startStack(t, realPayments(t, 0.5, 1), 0, unhealthyFor(1<<30)).url
		}, "503 Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(tt.url(t), 0.5)
			cfg.HealthTimeout = 300 * time.Millisecond
			_, _, err := run(t, cfg)
			if !errors.Is(err, acceptance.ErrUnhealthy) {
				t.Fatalf("Run error = %v, want unhealthy", err)
			}
			for _, want := range []string{"did not answer 200 on /rest/health within 300ms", tt.wantLast} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// restartingAfterFirstPay replaces Antaeus by a freshly seeded one once the
// first /pay call has answered, as a pod restart does.
func restartingAfterFirstPay(t *testing.T, providerURL string) func(http.Handler) http.Handler {
	return func(first http.Handler) http.Handler {
		var current atomic.Pointer[http.Handler]
		current.Store(&first)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			(*current.Load()).ServeHTTP(w, r)
			if r.URL.Path == "/rest/v1/invoices/pay" {
				fresh, err := fakeantaeus.New(fakeantaeus.Options{ProviderEndpoint: providerURL, Seed: 99})
				if err != nil {
					t.Error(err)
					return
				}
				t.Cleanup(fresh.Close)
				var handler http.Handler = fresh
				current.Store(&handler)
			}
		})
	}
}

func TestARunFailsWhenAntaeusRestartsInTheMiddle(t *testing.T) {
	provider := httptest.NewServer(realPayments(t, 0.5, 42))
	t.Cleanup(provider.Close)
	s := startStack(t, provider.Config.Handler, 0, restartingAfterFirstPay(t, provider.URL))

	_, _, err := run(t, testConfig(s.url, 0.5))
	if !errors.Is(err, acceptance.ErrInconsistent) || !strings.Contains(err.Error(), "did the pod restart?") {
		t.Fatalf("Run error = %v, want a restart detected", err)
	}
}

func TestConfigValidateNamesTheBadSetting(t *testing.T) {
	good := testConfig(&url.URL{Scheme: "http", Host: "antaeus.example"}, 0.5)
	tests := []struct {
		name   string
		mutate func(*acceptance.Config)
		want   string
	}{
		{"a URL without scheme", func(c *acceptance.Config) { c.BaseURL = &url.URL{Path: "antaeus"} }, "the Antaeus URL must be an absolute http or https URL"},
		{"no URL", func(c *acceptance.Config) { c.BaseURL = nil }, "the Antaeus URL must be"},
		{"a rate above 1", func(c *acceptance.Config) { c.ExpectedRate = 1.5 }, "the expected success rate must be between 0 and 1, got 1.5"},
		{"an alpha of 0", func(c *acceptance.Config) { c.Alpha = 0 }, "alpha must be greater than 0 and less than 0.5, got 0"},
		{"no call allowed", func(c *acceptance.Config) { c.MaxCalls = 0 }, "the maximum number of /pay calls must be at least 1, got 0"},
		{"no time to wait", func(c *acceptance.Config) { c.PayTimeout = 0 }, "must all be positive"},
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("the test's base config is invalid: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mutate(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// onlyHost routes requests like an Ingress with one host rule.
func onlyHost(host string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if name, _, err := net.SplitHostPort(r.Host); err != nil || name != host {
				http.NotFound(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestARunReachesAnIngressByItsHostNameAtAnotherAddress(t *testing.T) {
	const host = "antaeus.dev.example.com"
	tests := []struct {
		name      string
		connectTo func(port string) string
	}{
		{"an address without port keeps the URL's port", func(string) string { return "127.0.0.1" }},
		{"an address with port replaces both", func(port string) string { return "127.0.0.1:" + port }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startStack(t, realPayments(t, 0.5, 42), 0, onlyHost(host))
			port := s.url.Port()
			cfg := testConfig(mustParse(t, "http://"+host+":"+port), 0.5)
			var out bytes.Buffer
			if _, err := acceptance.Run(context.Background(), cfg, acceptance.NewHTTPClient(tt.connectTo(port)), &out); err != nil {
				t.Fatalf("Run: %v\n%s", err, out.String())
			}
		})
	}
}
