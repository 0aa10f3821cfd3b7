package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tinjis/tinjis/payments/settings"
)

// stockBody is the exact body the stock Antaeus sends for a charge.
const stockBody = `{"currency":{},"customer_id":1,"value":356.72}`

// stockHeaders are the headers khttp sends with it (Content-Length aside).
var stockHeaders = map[string]string{
	"Content-Type":    "application/json",
	"Accept":          "*/*",
	"Accept-Encoding": "gzip, deflate",
	"User-Agent":      "khttp/1.0.0-SNAPSHOT",
	"Connection":      "keep-alive",
}

// testConfig is the default configuration listening on a free loopback port.
func testConfig() settings.Config {
	cfg := settings.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	return cfg
}

func seeded(cfg settings.Config, seed int64) settings.Config {
	cfg.Seed = &seed
	return cfg
}

func withRate(cfg settings.Config, rate float64) settings.Config {
	cfg.SuccessRate = rate
	return cfg
}

func newServer(t testing.TB, cfg settings.Config, deps Deps) *Server {
	t.Helper()
	s, err := New(cfg, deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// stockRequest builds the request Antaeus sends, to path, with body.
func stockRequest(path, body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	for name, value := range stockHeaders {
		req.Header.Set(name, value)
	}
	return req
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func httpGet(path string) *http.Request {
	return httptest.NewRequest(http.MethodGet, path, nil)
}

// charge posts body as a stock Antaeus request to "/" and decodes the answer,
// failing the test unless it is a 200 charge response.
func charge(t *testing.T, h http.Handler, body string) ChargeResponse {
	t.Helper()
	rec := serve(h, stockRequest("/", body))
	if rec.Code != http.StatusOK {
		t.Fatalf("POST / %s: status %d, body %s", body, rec.Code, rec.Body)
	}
	return decodeStrict[ChargeResponse](t, rec.Body.Bytes())
}

// outcomes charges n times through h and returns the results in order.
func outcomes(t *testing.T, h http.Handler, n int) []bool {
	t.Helper()
	results := make([]bool, n)
	for i := range results {
		results[i] = charge(t, h, stockBody).Result
	}
	return results
}

// decodeStrict decodes a JSON body into T, failing on unknown fields.
func decodeStrict[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, body, err)
	}
	return v
}

// resultOf reads the body the way Antaeus does: a JSON object whose "result"
// is a boolean. It fails the test otherwise.
func resultOf(t *testing.T, body []byte) bool {
	t.Helper()
	var object map[string]any
	if err := json.Unmarshal(body, &object); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", body, err)
	}
	result, ok := object["result"].(bool)
	if !ok {
		t.Fatalf("body %q has no boolean result", body)
	}
	return result
}

// errorOf returns the message of an {"error":"..."} body, failing the test if
// the body is anything else.
func errorOf(t *testing.T, body []byte) string {
	t.Helper()
	answer := decodeStrict[ErrorResponse](t, body)
	if answer.Error == "" {
		t.Fatalf("body %q has an empty error", body)
	}
	return answer.Error
}

// logLines decodes every JSON line the logger wrote.
func logLines(t *testing.T, log *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	dec := json.NewDecoder(log)
	for {
		var line map[string]any
		if err := dec.Decode(&line); err == io.EOF {
			return lines
		} else if err != nil {
			t.Fatalf("log is not JSON lines: %v", err)
		}
		lines = append(lines, line)
	}
}

func jsonLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// eventually polls condition until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, condition func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
