package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tinjis/tinjis/payments/server"
	"github.com/tinjis/tinjis/payments/settings"
)

// BenchmarkStockCharge serves the stock Antaeus charge in memory (no network)
// with the payments handler, logging on, and with the bare handler.
func BenchmarkStockCharge(b *testing.B) {
	srv, err := server.New(settings.Default(), server.Deps{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
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
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(stockBody))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				bench.handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
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
