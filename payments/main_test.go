package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tinjis/tinjis/internal/testprocess"
)

// buildWithMake builds the binary with the Makefile target the Dockerfile runs.
func buildWithMake(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "payments")
	cmd := exec.Command("make", "--no-print-directory", "-C", "..", "payments-binary", "PAYMENTS_BIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make payments-binary: %v\n%s", err, out)
	}
	return bin
}

type logLine struct {
	Level       string `json:"level"`
	Msg         string `json:"msg"`
	Addr        string `json:"addr"`
	MetricsAddr string `json:"metrics_addr"`
	Outcome     string `json:"outcome"`
}

func TestTheBuiltBinaryChargesAndStopsGracefullyOnSIGTERM(t *testing.T) {
	bin := buildWithMake(t)
	process := testprocess.Start[logLine](t, bin, []string{"PAYMENTS_ADDR=127.0.0.1:0", "PAYMENTS_METRICS_ADDR=127.0.0.1:0", "PAYMENTS_DRAIN=100ms", "PAYMENTS_SEED=1"})
	listening := process.Next(t)
	if listening.Msg != "listening" {
		t.Fatalf("first log line = %+v, want listening", listening)
	}
	status, body := chargeOverTCP(t, listening.Addr)
	if status != http.StatusOK || !strings.Contains(body, `"result":`) {
		t.Errorf("stock charge answered %d %s", status, body)
	}
	line := process.Next(t)
	if line.Msg != "charge" || line.Outcome == "" {
		t.Errorf("log line after the charge = %+v, want a charge with its outcome", line)
	}
	if got, want := scrapeCharges(t, listening.MetricsAddr, line.Outcome), "1"; got != want {
		t.Errorf("the metrics address counts %s %s charges, want %s", got, line.Outcome, want)
	}

	process.Signal(t, syscall.SIGTERM)
	rest, err := process.Rest(t)
	var after []string
	for _, line := range rest {
		after = append(after, line.Msg)
	}
	if want := []string{"draining", "shutting down", "stopped"}; strings.Join(after, ",") != strings.Join(want, ",") {
		t.Errorf("log after SIGTERM = %q, want %q", after, want)
	}
	if err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
}

// scrapeCharges reads payments_charges_total of outcome from the metrics
// address.
func scrapeCharges(t *testing.T, addr, outcome string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	prefix := `payments_charges_total{outcome="` + outcome + `"} `
	for metric := range strings.Lines(string(body)) {
		if count, ok := strings.CutPrefix(metric, prefix); ok {
			return strings.TrimSpace(count)
		}
	}
	t.Fatalf("GET %s/metrics answered %s without %s", addr, resp.Status, prefix)
	return ""
}

// chargeOverTCP writes the stock Antaeus request to addr, byte for byte.
func chargeOverTCP(t *testing.T, addr string) (int, string) {
	t.Helper()
	const body = `{"currency":{},"customer_id":1,"value":356.72}`
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	request := "POST / HTTP/1.1\r\n" +
		"Content-Type: application/json\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n" +
		"User-Agent: khttp/1.0.0-SNAPSHOT\r\nConnection: keep-alive\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\nHost: " + addr + "\r\n\r\n" + body
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(answer)
}

func TestAnInvalidSettingStopsTheServiceWithOneSentenceNamingIt(t *testing.T) {
	var stdout, stderr bytes.Buffer
	getenv := func(name string) string {
		return map[string]string{"PAYMENTS_SUCCESS_RATE": "1.5"}[name]
	}

	code := run(getenv, &stdout, &stderr)

	if code != exitInvalidConfig {
		t.Errorf("exit code = %d, want %d", code, exitInvalidConfig)
	}
	if got, want := stderr.String(), "PAYMENTS_SUCCESS_RATE must be a number from 0 to 1, got \"1.5\"\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing before the config is valid", stdout.String())
	}
}
