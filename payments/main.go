// Command payments is the payment provider that Antaeus calls to charge an
// invoice. It is configured by PAYMENTS_* environment variables (see the
// README) and stops gracefully on SIGTERM or SIGINT.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tinjis/tinjis/payments/internal/logbuffer"
	"github.com/tinjis/tinjis/payments/server"
	"github.com/tinjis/tinjis/payments/settings"
)

// Exit codes.
const (
	exitSuccess       = 0
	exitFailure       = 1
	exitInvalidConfig = 2
)

func main() {
	os.Exit(run(os.Getenv, os.Stdout, os.Stderr))
}

func run(getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := settings.FromEnv(getenv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitInvalidConfig
	}
	// Written out in batches; Close writes out the rest when the server stops.
	logs := logbuffer.New(stdout, logbuffer.DefaultSize, logbuffer.DefaultFlushInterval)
	defer logs.Close()
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: cfg.LogLevel}))

	registry := prometheus.NewRegistry()
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	srv, err := server.New(cfg, server.Deps{Log: logs, Registry: registry})
	if err != nil {
		logger.Error("cannot build the server", "error", err)
		return exitFailure
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()

	if err := srv.Run(ctx); err != nil {
		logger.Error("server stopped", "error", err)
		return exitFailure
	}
	return exitSuccess
}
