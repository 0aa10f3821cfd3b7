// Command bench measures the payments server against a bare net/http handler
// answering the same JSON, in one run, on loopback, with wrk posting the
// stock Antaeus request. The payments server logs every request (to a
// temporary file) and records its metrics, as in production.
//
//	go run ./payments/bench [-duration 10s] [-rounds 3] [-connections 32]
//
// Both servers run in this process; each measurement loads one of them while
// the other is idle, and the order alternates between rounds. Everything
// listens on 127.0.0.1 and stops when the run ends.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/tinjis/tinjis/payments/internal/logbuffer"
	"github.com/tinjis/tinjis/payments/server"
	"github.com/tinjis/tinjis/payments/settings"
)

type options struct {
	wrk         string
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	connections int
	threads     int
	cpuProfile  string
}

func main() {
	var opts options
	flag.StringVar(&opts.wrk, "wrk", "wrk", "wrk binary")
	flag.DurationVar(&opts.duration, "duration", 10*time.Second, "length of each measurement")
	flag.DurationVar(&opts.warmup, "warmup", 2*time.Second, "unmeasured load on each server before the rounds")
	flag.IntVar(&opts.rounds, "rounds", 3, "measurements of each server")
	flag.IntVar(&opts.connections, "connections", 32, "concurrent keep-alive connections")
	flag.IntVar(&opts.threads, "threads", 1, "wrk threads")
	flag.StringVar(&opts.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured rounds (both servers) to this file")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type target struct {
	name string
	url  string
}

func run(ctx context.Context, opts options) error {
	wrk, err := exec.LookPath(opts.wrk)
	if err != nil {
		return fmt.Errorf("%s not found; install it (Debian: apt-get install wrk): %w", opts.wrk, err)
	}
	if opts.rounds < 1 || opts.duration < time.Second || opts.connections < 1 || opts.threads < 1 ||
		opts.threads > opts.connections {
		return errors.New("need -rounds >= 1, -duration >= 1s and 1 <= -threads <= -connections")
	}
	work, err := os.MkdirTemp("", "payments-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	serveCtx, stopServers := context.WithCancel(ctx)
	defer stopServers()
	logPath := work + "/payments.log"
	payments, paymentsStopped, err := startPayments(serveCtx, logPath)
	if err != nil {
		return err
	}
	bare, err := startBare(serveCtx)
	if err != nil {
		return err
	}
	targets := []target{{"payments (echo, logging, metrics)", payments}, {"bare net/http", bare}}
	for _, t := range targets {
		if err := checkAnswer(ctx, t.url); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	script := work + "/stock-charge.lua"
	if err := os.WriteFile(script, []byte(stockChargeScript), 0o600); err != nil {
		return err
	}

	load := func(t target, d time.Duration) (wrkResult, error) {
		res, err := runWrk(ctx, wrk, script, t.url, d, opts)
		if err != nil {
			return res, fmt.Errorf("%s: %w", t.name, err)
		}
		return res, nil
	}
	fmt.Printf("wrk -t%d -c%d -d%v, %d rounds, GOMAXPROCS %d, %d CPUs\n",
		opts.threads, opts.connections, opts.duration, opts.rounds, runtimeProcs(), cpus())
	for _, t := range targets {
		if _, err := load(t, opts.warmup); err != nil {
			return err
		}
	}

	if opts.cpuProfile != "" {
		stopProfile, err := startCPUProfile(opts.cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	results := make(map[string][]wrkResult)
	table := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(table, "round\tserver\treq/s\tp50\tp99")
	for round := range opts.rounds {
		order := slices.Clone(targets)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, t := range order {
			res, err := load(t, opts.duration)
			if err != nil {
				return err
			}
			results[t.name] = append(results[t.name], res)
			fmt.Fprintf(table, "%d\t%s\t%.0f\t%v\t%v\n", round+1, t.name, res.requestsPerSec, res.p50, res.p99)
		}
	}
	table.Flush()
	stopServers()
	<-paymentsStopped

	fmt.Println()
	summary := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(summary, "server\tmedian req/s\tmin..max req/s\tmedian p99")
	for _, t := range targets {
		rps, p99 := column(results[t.name])
		fmt.Fprintf(summary, "%s\t%.0f\t%.0f..%.0f\t%v\n", t.name, median(rps), slices.Min(rps), slices.Max(rps), medianDuration(p99))
	}
	summary.Flush()

	paymentsRPS, _ := column(results[targets[0].name])
	bareRPS, _ := column(results[targets[1].name])
	ratios := make([]float64, len(paymentsRPS))
	for i := range ratios {
		ratios[i] = paymentsRPS[i] / bareRPS[i]
	}
	fmt.Printf("\nratio payments/bare: %.2f (median req/s), per round %.2f..%.2f\n",
		median(paymentsRPS)/median(bareRPS), slices.Min(ratios), slices.Max(ratios))

	lines, size, err := countLines(logPath)
	if err != nil {
		return err
	}
	fmt.Printf("payments logged %d JSON lines (%.1f MiB) during the run\n", lines, float64(size)/(1<<20))
	return nil
}

// startPayments serves payments, logging to logPath, until ctx is done;
// stopped is closed once its log is all written.
func startPayments(ctx context.Context, logPath string) (url string, stopped <-chan struct{}, err error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", nil, err
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		logFile.Close()
		return "", nil, err
	}
	metricsListener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		logFile.Close()
		listener.Close()
		return "", nil, err
	}
	cfg := settings.Default()
	cfg.Drain = 0
	// Logged as the payments command logs.
	logs := logbuffer.New(logFile, logbuffer.DefaultSize, logbuffer.DefaultFlushInterval)
	srv, err := server.New(cfg, server.Deps{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		logs.Close()
		logFile.Close()
		listener.Close()
		metricsListener.Close()
		return "", nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer logFile.Close()
		defer logs.Close()
		if err := srv.Serve(ctx, server.Listeners{Charge: listener, Metrics: metricsListener}); err != nil {
			fmt.Fprintln(os.Stderr, "bench: payments:", err)
		}
	}()
	return "http://" + listener.Addr().String() + "/", done, nil
}

func startBare(ctx context.Context) (string, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defaults := settings.Default()
	srv := &http.Server{
		Handler:           bareHandler(),
		ReadHeaderTimeout: defaults.ReadHeaderTimeout,
		ReadTimeout:       defaults.ReadTimeout,
		WriteTimeout:      defaults.WriteTimeout,
		IdleTimeout:       defaults.IdleTimeout,
	}
	go func() { _ = srv.Serve(listener) }()
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	return "http://" + listener.Addr().String() + "/", nil
}

// checkAnswer makes sure url answers the stock charge with a result before
// any load is measured.
func checkAnswer(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(stockBody))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		return fmt.Errorf("the stock charge got %s, %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	return nil
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func column(results []wrkResult) (rps []float64, p99 []time.Duration) {
	for _, r := range results {
		rps = append(rps, r.requestsPerSec)
		p99 = append(p99, r.p99)
	}
	return rps, p99
}

func median(values []float64) float64 {
	sorted := slices.Sorted(slices.Values(values))
	mid := len(sorted) / 2
	if len(sorted)%2 == 0 {
		return (sorted[mid-1] + sorted[mid]) / 2
	}
	return sorted[mid]
}

func medianDuration(values []time.Duration) time.Duration {
	sorted := slices.Sorted(slices.Values(values))
	return sorted[len(sorted)/2]
}
