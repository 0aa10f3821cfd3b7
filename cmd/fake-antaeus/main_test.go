package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tinjis/tinjis/internal/fakeantaeus"
	"github.com/tinjis/tinjis/internal/testprocess"
	"github.com/tinjis/tinjis/payments/server"
	"github.com/tinjis/tinjis/payments/settings"
)

// buildWithMake builds the binary as `make images` does.
func buildWithMake(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fake-antaeus")
	cmd := exec.Command("make", "--no-print-directory", "-C", "../..", "fake-antaeus-binary", "FAKE_ANTAEUS_BIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make fake-antaeus-binary: %v\n%s", err, out)
	}
	return bin
}

// payments serves the real payment provider's handler, paying every charge.
func payments(t *testing.T) *httptest.Server {
	t.Helper()
	cfg := settings.Default()
	cfg.SuccessRate = 1
	srv, err := server.New(cfg, server.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	provider := httptest.NewServer(srv.Handler())
	t.Cleanup(provider.Close)
	return provider
}

type logLine struct {
	Msg    string `json:"msg"`
	Addr   string `json:"addr"`
	Path   string `json:"path"`
	Status int    `json:"status"`
}

func get(t *testing.T, url string, into any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatal(err)
	}
}

func countPending(invoices []fakeantaeus.Invoice) int {
	pending := 0
	for _, invoice := range invoices {
		if invoice.Status == fakeantaeus.StatusPending {
			pending++
		}
	}
	return pending
}

func TestTheBuiltStandInPaysInvoicesThroughThePaymentsServiceAndStopsOnSIGTERM(t *testing.T) {
	bin := buildWithMake(t)
	provider := payments(t)
	process := testprocess.Start[logLine](t, bin, []string{
		EnvAddr + "=127.0.0.1:0",
		fakeantaeus.EnvProviderEndpoint + "=" + provider.URL,
	})
	listening := process.Next(t)
	if listening.Msg != "listening" {
		t.Fatalf("first log line = %+v, want listening", listening)
	}
	base := "http://" + listening.Addr
	var before []fakeantaeus.Invoice
	get(t, base+"/rest/v1/invoices", &before)
	if countPending(before) == 0 {
		t.Fatalf("no PENDING invoice at start: %+v", before)
	}
	process.Next(t) // the request line of that GET

	resp, err := http.Post(base+"/rest/v1/invoices/pay", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(answer)) != "true" {
		t.Errorf("/pay answered %s %q, want 200 true", resp.Status, answer)
	}
	if line := process.Next(t); line.Msg != "request" || line.Path != "/rest/v1/invoices/pay" || line.Status != http.StatusOK {
		t.Errorf("log line after /pay = %+v, want the request with its status", line)
	}
	var after []fakeantaeus.Invoice
	get(t, base+"/rest/v1/invoices", &after)
	if pending := countPending(after); pending != 0 {
		t.Errorf("%d invoices still PENDING after /pay with a provider paying every charge", pending)
	}
	process.Next(t)

	process.Signal(t, syscall.SIGTERM)
	rest, err := process.Rest(t)
	var messages []string
	for _, line := range rest {
		messages = append(messages, line.Msg)
	}
	if want := []string{"shutting down", "stopped"}; strings.Join(messages, ",") != strings.Join(want, ",") {
		t.Errorf("log after SIGTERM = %q, want %q", messages, want)
	}
	if err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
}

func TestAnEndpointThatIsNoURLStopsTheStandInNamingTheVariable(t *testing.T) {
	var stdout bytes.Buffer
	getenv := func(name string) string {
		return map[string]string{fakeantaeus.EnvProviderEndpoint: "payments:9000"}[name]
	}

	code := run(context.Background(), getenv, &stdout)

	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if !strings.Contains(stdout.String(), fakeantaeus.EnvProviderEndpoint+": the provider endpoint must be an http or https URL") {
		t.Errorf("log = %q, want the error naming %s", stdout.String(), fakeantaeus.EnvProviderEndpoint)
	}
}
