// Command fake-antaeus is a STAND-IN for Pleo's Antaeus, for tests and for
// reviewers who cannot build the real one: it is not Antaeus. It serves
// Antaeus's REST API on port 8000 and, on POST /rest/v1/invoices/pay,
// charges the pending invoices through PAYMENT_PROVIDER_ENDPOINT exactly as
// the unmodified Antaeus does (see internal/fakeantaeus). Its invoices live
// in memory and are seeded anew at every start, as Antaeus's are. It logs
// JSON lines to stdout and stops gracefully on SIGTERM or SIGINT.
//
//	fake-antaeus [--addr HOST:PORT]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/tinjis/tinjis/internal/fakeantaeus"
)

// EnvAddr is the listening address when --addr is not given (default
// ":8000"), so tests can run the stand-in on a free loopback port. The real
// Antaeus has no such setting.
const EnvAddr = "FAKE_ANTAEUS_ADDR"

// Exit codes.
const (
	exitStopped = 0
	exitFailed  = 1
	exitUsage   = 2
)

// shutdownTimeout bounds the wait for requests in flight after a signal; a
// /pay call can take long, as each charge may take the provider's time.
const shutdownTimeout = 30 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("fake-antaeus", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintf(stderr, `Usage: fake-antaeus [--addr HOST:PORT]

A STAND-IN for Pleo's Antaeus, not Antaeus: it serves Antaeus's REST API and
charges its pending invoices through %s (default %s)
as the unmodified Antaeus does. Logs JSON lines to stdout; stops on SIGTERM.

`, fakeantaeus.EnvProviderEndpoint, fakeantaeus.DefaultProviderEndpoint)
		flags.PrintDefaults()
	}
	addr := getenv(EnvAddr)
	if addr == "" {
		addr = ":" + strconv.Itoa(fakeantaeus.Port)
	}
	flags.StringVar(&addr, "addr", addr, "`address` to listen on, host:port (default from "+EnvAddr+")")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitStopped
		}
		return exitUsage
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "fake-antaeus takes no arguments, got %q\n", flags.Args())
		return exitUsage
	}

	logger := slog.New(slog.NewJSONHandler(stdout, nil))
	if err := serve(ctx, addr, getenv, logger); err != nil {
		logger.Error("stopped", "error", err.Error())
		return exitFailed
	}
	logger.Info("stopped")
	return exitStopped
}

func serve(ctx context.Context, addr string, getenv func(string) string, logger *slog.Logger) error {
	endpoint := getenv(fakeantaeus.EnvProviderEndpoint)
	if endpoint == "" {
		endpoint = fakeantaeus.DefaultProviderEndpoint
	}
	antaeus, err := fakeantaeus.New(fakeantaeus.Options{ProviderEndpoint: endpoint})
	if err != nil {
		return fmt.Errorf("%s: %w", fakeantaeus.EnvProviderEndpoint, err)
	}
	defer antaeus.Close()

	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	server := &http.Server{Handler: logRequests(logger, antaeus), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	logger.Info("listening", "addr", listener.Addr().String(), "provider", endpoint)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// logRequests writes one line per request: what was asked and the answer.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		recorder := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(recorder, r)
		logger.Info("request", "method", r.Method, "path", r.URL.Path, "status", recorder.status,
			"duration", time.Since(start).String())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}
