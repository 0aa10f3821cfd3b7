package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinjis/tinjis/infra/outputs"
	"github.com/tinjis/tinjis/internal/fakeantaeus"
	"github.com/tinjis/tinjis/payments/server"
	"github.com/tinjis/tinjis/payments/settings"
)

// startAntaeus serves a fake Antaeus that charges through provider and
// returns its URL. With host set, it answers only requests for that host
// name, as an Ingress rule does.
func startAntaeus(t *testing.T, provider http.Handler, host ...string) string {
	t.Helper()
	providerServer := httptest.NewServer(provider)
	t.Cleanup(providerServer.Close)
	antaeus, err := fakeantaeus.New(fakeantaeus.Options{ProviderEndpoint: providerServer.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(antaeus.Close)
	var handler http.Handler = antaeus
	if len(host) > 0 {
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if name, _, _ := net.SplitHostPort(r.Host); name != host[0] {
				http.NotFound(w, r)
				return
			}
			antaeus.ServeHTTP(w, r)
		})
	}
	antaeusServer := httptest.NewServer(handler)
	t.Cleanup(antaeusServer.Close)
	return antaeusServer.URL
}

func realPayments(t *testing.T) http.Handler {
	t.Helper()
	cfg := settings.Default()
	seed := int64(42)
	cfg.Seed = &seed
	payments, err := server.New(cfg, server.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return payments.Handler()
}

// fakePulumi puts a pulumi script on PATH that prints url when asked for the
// Antaeus URL output of stack dev, and fails like the CLI otherwise.
func fakePulumi(t *testing.T, url string) {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\n" +
		`if [ "$*" = "stack output ` + outputs.AntaeusURL + ` --stack dev" ]; then echo "` + url + `"; exit 0; fi` + "\n" +
		`echo "error: no stack named '$5' found" >&2; exit 255` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "pulumi"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
}

func runCommand(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	t.Logf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	return code, stdout.String(), stderr.String()
}

func TestTheCommandPassesAgainstAStackWithRealPayments(t *testing.T) {
	tests := []struct {
		name string
		args func(t *testing.T, url string) []string
	}{
		{"by URL", func(_ *testing.T, url string) []string { return []string{"--url", url} }},
		{"by stack output", func(t *testing.T, url string) []string { fakePulumi(t, url); return []string{"--stack", "dev"} }},
	}
	const ingressHost = "antaeus.dev.tinjis.example.com"
	t.Run("by Ingress host name at the controller's address", func(t *testing.T) {
		port := strings.TrimPrefix(startAntaeus(t, realPayments(t), ingressHost), "http://127.0.0.1:")
		code, stdout, _ := runCommand(t, "--url", "http://"+ingressHost+":"+port, "--connect-to", "127.0.0.1", "--health-timeout", "5s")
		if code != exitPass || !strings.HasSuffix(stdout, "PASS\n") {
			t.Errorf("exit %d, want a PASS", code)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := startAntaeus(t, realPayments(t))
			code, stdout, _ := runCommand(t, tt.args(t, url)...)
			if code != exitPass || !strings.HasSuffix(stdout, "PASS\n") {
				t.Errorf("exit %d, want a PASS", code)
			}
		})
	}
}

func TestTheCommandFailsWhenPaymentsAnswersGarbage(t *testing.T) {
	garbage := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html><body>Payment accepted</body></html>")
	})
	code, _, stderr := runCommand(t, "--url", startAntaeus(t, garbage))
	if code != exitFail || !strings.HasPrefix(stderr, "FAIL: call 1: Antaeus answered 500") {
		t.Errorf("exit %d with %q, want a FAIL naming the 500", code, stderr)
	}
}

func TestTheCommandExplainsWhyItCannotStart(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(t *testing.T)
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"--help names each flag's value, and exits", nil, []string{"--help"}, exitPass, "-stack stack\n    \tthe Pulumi stack to test: its " + outputs.AntaeusURL + " output is Antaeus's URL"},
		{"neither a stack nor a URL", nil, nil, exitUsage, "give exactly one of --stack"},
		{"both a stack and a URL", nil, []string{"--stack", "dev", "--url", "http://a"}, exitUsage, "give exactly one of --stack"},
		{"a URL without scheme", nil, []string{"--url", "antaeus.example"}, exitUsage, "absolute http or https URL"},
		{"a rate above 1", nil, []string{"--url", "http://a", "--rate", "2"}, exitUsage, "between 0 and 1, got 2"},
		{"a node port placeholder", nil, []string{"--url", "http://<node-address>:30080"}, exitUsage, "pass --url with <node-address> replaced"},
		{"a stray argument", nil, []string{"--url", "http://a", "dev"}, exitUsage, "unexpected arguments"},
		{"no pulumi CLI", func(t *testing.T) { t.Setenv("PATH", t.TempDir()) }, []string{"--stack", "dev"}, exitFail,
			"the pulumi CLI is not on PATH"},
		{"a stack that does not exist", func(t *testing.T) { fakePulumi(t, "http://unused") }, []string{"--stack", "prod"}, exitFail,
			"`pulumi stack output " + outputs.AntaeusURL + " --stack prod` failed (exit status 255): error: no stack named 'prod' found"},
		{"a stack without a URL yet", func(t *testing.T) { fakePulumi(t, "") }, []string{"--stack", "dev"}, exitFail,
			"stack dev has an empty " + outputs.AntaeusURL + " output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(t)
			}
			code, _, stderr := runCommand(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d with %q, want %d with %q", code, stderr, tt.wantCode, tt.wantStderr)
			}
		})
	}
}
