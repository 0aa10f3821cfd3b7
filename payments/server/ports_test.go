package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// get answers a GET of path at addr on a fresh connection.
func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	return request(t, http.MethodGet, addr, path, "")
}

func request(t *testing.T, method, addr, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, addr, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(answer)
}

func refuses(addr string) bool {
	conn, err := net.Dial("tcp", addr)
	if err == nil {
		conn.Close()
	}
	return err != nil
}

func TestMetricsAreServedOnTheMetricsAddressOnly(t *testing.T) {
	cfg := testConfig()
	cfg.Drain = 0
	chargeAddr, metricsAddr := startServer(t, newServer(t, cfg, Deps{}))
	if status, body := request(t, http.MethodPost, chargeAddr, "/", stockBody); status != http.StatusOK {
		t.Fatalf("charge answered %d %s", status, body)
	}

	t.Run("the metrics address serves the charge just made", func(t *testing.T) {
		status, body := get(t, metricsAddr, "/metrics")
		if status != http.StatusOK || !strings.Contains(body, "payments_charges_total{outcome=") {
			t.Errorf("GET /metrics on the metrics address = %d, want 200 with payments_charges_total; body:\n%s", status, body)
		}
	})
	tests := []struct {
		name, method, addr, path string
		wantStatus               int
		wantError                string
	}{
		{"the charge address has no /metrics", http.MethodGet, chargeAddr, "/metrics", 404, "no endpoint at this path"},
		{"the metrics address takes no charge", http.MethodPost, metricsAddr, "/", 404, "no endpoint at this path"},
		{"the metrics address takes no charge at /v1/charges", http.MethodPost, metricsAddr, "/v1/charges", 404, "no endpoint at this path"},
		{"the metrics address has no probes", http.MethodGet, metricsAddr, "/readyz", 404, "no endpoint at this path"},
		{"the metrics address is read-only", http.MethodPost, metricsAddr, "/metrics", 405, "method not allowed at this path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := request(t, tt.method, tt.addr, tt.path, stockBody)
			if status != tt.wantStatus {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, status, tt.wantStatus)
			}
			if got := errorOf(t, []byte(body)); got != tt.wantError {
				t.Errorf("error = %q, want %q", got, tt.wantError)
			}
		})
	}
}

func TestBothAddressesServeThroughTheDrainAndStopTogether(t *testing.T) {
	cfg := testConfig()
	cfg.Drain = time.Second
	s := newServer(t, cfg, Deps{})
	listeners := freeListeners(t)
	chargeAddr, metricsAddr := listeners.Charge.Addr().String(), listeners.Metrics.Addr().String()
	ctx, shutdown := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, listeners) }()

	shutdown()
	eventually(t, 5*time.Second, "/readyz answers 503 during the drain", func() bool {
		status, _ := get(t, chargeAddr, "/readyz")
		return status == http.StatusServiceUnavailable
	})
	if status, _ := get(t, metricsAddr, "/metrics"); status != http.StatusOK {
		t.Errorf("GET /metrics during the drain = %d, want 200", status)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after a clean shutdown", err)
	}
	for _, addr := range []string{chargeAddr, metricsAddr} {
		if !refuses(addr) {
			t.Errorf("%s still accepts connections after Serve returned", addr)
		}
	}
}

func TestWhenOneAddressFailsTheServerStopsServingBoth(t *testing.T) {
	s := newServer(t, testConfig(), Deps{})
	listeners := freeListeners(t)
	chargeAddr := listeners.Charge.Addr().String()
	served := make(chan error, 1)
	go func() { served <- s.Serve(t.Context(), listeners) }()
	if status, _ := get(t, chargeAddr, "/healthz"); status != http.StatusOK {
		t.Fatalf("GET /healthz = %d, want 200", status)
	}

	listeners.Metrics.Close()

	select {
	case err := <-served:
		if err == nil || !strings.Contains(err.Error(), "serve metrics") {
			t.Errorf("Serve = %v, want an error naming the metrics server", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve kept running after its metrics listener failed")
	}
	if !refuses(chargeAddr) {
		t.Errorf("the charge address still accepts connections after the metrics server failed")
	}
}

func TestScrapingNeedsNoChargeToken(t *testing.T) {
	cfg := testConfig()
	cfg.AuthToken = "s3cret-token"
	rec := serve(newServer(t, cfg, Deps{}).MetricsHandler(), httpGet("/metrics"))
	if rec.Code != http.StatusOK {
		t.Errorf("GET /metrics without a token = %d, want 200", rec.Code)
	}
}
