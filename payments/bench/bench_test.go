package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tinjis/tinjis/payments/server"
	"github.com/tinjis/tinjis/payments/settings"
)

// BenchmarkStockCharge serves the stock Antaeus charge in memory (no network)
// with the payments handler, logging on, and with the bare handler. The
// request and the response writer are reused, as net/http's server reuses
// its per-connection buffers, so allocs/op counts what the handler itself
// allocates for a charge.
func BenchmarkStockCharge(b *testing.B) {
	srv, err := server.New(settings.Default(), server.Deps{Log: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	for _, bench := range []struct {
		name    string
		handler http.Handler
	}{
		{"payments", srv.Handler()},
		{"bare", bareHandler()},
	} {
		b.Run(bench.name, func(b *testing.B) {
			body := strings.NewReader(stockBody)
			requestBody := io.NopCloser(body)
			req := httptest.NewRequest(http.MethodPost, "/", nil)
			req.Header.Set("Content-Type", "application/json")
			w := &reusedResponse{header: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				body.Reset(stockBody)
				req.Body = requestBody // middleware may wrap it
				w.reset()
				bench.handler.ServeHTTP(w, req)
				if w.status != http.StatusOK {
					b.Fatalf("status %d: %s", w.status, w.body.Bytes())
				}
			}
		})
	}
}

// reusedResponse is an http.ResponseWriter that keeps its header map and
// body buffer from one request to the next.
type reusedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *reusedResponse) Header() http.Header { return w.header }

func (w *reusedResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *reusedResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

func (w *reusedResponse) reset() {
	clear(w.header)
	w.status = 0
	w.body.Reset()
}

func TestParseWrkReadsThroughputAndLatency(t *testing.T) {
	const out = `Running 10s test @ http://127.0.0.1:40000/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   720.51us  301.12us  12.01ms   90.00%
    Req/Sec    44.60k     2.10k   48.00k    80.00%
  Latency Distribution
     50%  680.00us
     75%  800.00us
     90%    1.00ms
     99%    1.52ms
  443842 requests in 10.00s, 70.25MB read
Requests/sec:  44383.94
Transfer/sec:      7.02MB
`
	res, err := parseWrk([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if res.requestsPerSec != 44383.94 || res.p50.String() != "680µs" || res.p99.String() != "1.52ms" {
		t.Errorf("parsed %+v", res)
	}
	if _, err := parseWrk([]byte(out + "  Non-2xx or 3xx responses: 3\n")); err == nil {
		t.Error("error responses were not reported")
	}
}
