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
	"sync"
	"syscall"
	"testing"
	"time"

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

	code := run(context.Background(), nil, getenv, &stdout, io.Discard)

	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if !strings.Contains(stdout.String(), fakeantaeus.EnvProviderEndpoint+": the provider endpoint must be an http or https URL") {
		t.Errorf("log = %q, want the error naming %s", stdout.String(), fakeantaeus.EnvProviderEndpoint)
	}
}

func TestTheFlagsAreReadBeforeAnythingListens(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr []string
	}{
		{"--help prints the usage and exits", []string{"--help"}, 0, []string{"Usage: fake-antaeus [--addr HOST:PORT]", "STAND-IN", "-addr address", fakeantaeus.EnvProviderEndpoint}},
		{"-h too", []string{"-h"}, 0, []string{"Usage: fake-antaeus"}},
		{"an unknown flag is a usage error", []string{"--port", "8000"}, 2, []string{"flag provided but not defined: -port"}},
		{"an argument is a usage error", []string{"serve"}, 2, []string{`takes no arguments, got ["serve"]`}},
		{"an address that cannot be listened on stops it", []string{"--addr", "127.0.0.1:99999"}, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, noEnv, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			for _, want := range tc.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr %q\nwant it to contain %q", stderr.String(), want)
				}
			}
			if tc.wantCode != 1 && strings.Contains(stdout.String(), "listening") {
				t.Errorf("it listened: %s", stdout.String())
			}
		})
	}
}

func TestAddrChoosesWhereTheStandInListens(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stdout := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0"}, func(string) string { return "" }, stdout, io.Discard)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit code %d after cancel, want 0", code)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		line, _, _ := strings.Cut(stdout.String(), "\n")
		var listening logLine
		if json.Unmarshal([]byte(line), &listening) == nil && listening.Msg == "listening" {
			if !strings.HasPrefix(listening.Addr, "127.0.0.1:") {
				t.Errorf("listening on %s, want 127.0.0.1", listening.Addr)
			}
			var invoices []fakeantaeus.Invoice
			get(t, "http://"+listening.Addr+"/rest/v1/invoices", &invoices)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line within 10s: %q", stdout.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
