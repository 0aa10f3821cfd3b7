// Command acceptance checks a deployed stack end to end: it waits for
// Antaeus, calls POST /rest/v1/invoices/pay until every invoice is PAID (or a
// bound is hit), prints the invoices after each call, and fails when a call
// answers 500 or the provider's success rate is implausible.
//
//	go run ./cmd/acceptance --stack dev
//	go run ./cmd/acceptance --url http://antaeus.example.com
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tinjis/tinjis/infra/outputs"
	"github.com/tinjis/tinjis/internal/acceptance"
)

// Exit codes.
const (
	exitPass  = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := acceptance.DefaultConfig()
	flags := flag.NewFlagSet("acceptance", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintf(stderr, `Usage: acceptance --stack NAME | --url URL [flags]

Pays Antaeus's invoices until none is PENDING, printing the invoices after
each POST /rest/v1/invoices/pay, and judges payments' success rate.

`)
		flags.PrintDefaults()
	}
	stack := flags.String("stack", "", "the Pulumi `stack` to test: its "+outputs.AntaeusURL+" output is Antaeus's URL (read with the pulumi CLI)")
	rawURL := flags.String("url", "", "Antaeus's `URL`, instead of --stack")
	connectTo := flags.String("connect-to", "", "connect to this `host[:port]` instead of the URL's host, keeping the URL's host name: for an Ingress host not in DNS (e.g. the ingress controller's address)")
	projectDir := flags.String("dir", ".", "`directory` of Pulumi.yaml, where the pulumi CLI runs")
	flags.Float64Var(&cfg.ExpectedRate, "rate", cfg.ExpectedRate, "success rate payments is configured with")
	flags.Float64Var(&cfg.Alpha, "alpha", cfg.Alpha, "significance level of the exact binomial test")
	flags.IntVar(&cfg.MaxCalls, "max-calls", cfg.MaxCalls, "at most this many POST /rest/v1/invoices/pay calls")
	flags.DurationVar(&cfg.HealthTimeout, "health-timeout", cfg.HealthTimeout, "how long to wait for /rest/health to answer 200")
	flags.DurationVar(&cfg.PayTimeout, "pay-timeout", cfg.PayTimeout, "how long the /pay calls may take in all")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitPass
		}
		return exitUsage
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %q\n", flags.Args())
		return exitUsage
	}

	switch {
	case (*stack == "") == (*rawURL == ""):
		fmt.Fprintf(stderr, "give exactly one of --stack (read the stack's %s output) or --url\n", outputs.AntaeusURL)
		return exitUsage
	case *stack != "":
		fmt.Fprintf(stdout, "Reading the %s output of stack %s...\n", outputs.AntaeusURL, *stack)
		output, err := stackOutput(ctx, *projectDir, *stack, outputs.AntaeusURL)
		if err != nil {
			fmt.Fprintf(stderr, "FAIL: %v\n", err)
			return exitFail
		}
		*rawURL = output
	}
	if strings.Contains(*rawURL, outputs.NodeAddress) {
		fmt.Fprintf(stderr, "the Antaeus URL %s is exposed on a node port: pass --url with %s replaced by the address of one of the cluster's nodes\n",
			*rawURL, outputs.NodeAddress)
		return exitUsage
	}
	base, err := url.Parse(*rawURL)
	if err != nil {
		fmt.Fprintf(stderr, "the Antaeus URL %q is not a URL: %v\n", *rawURL, err)
		return exitUsage
	}
	cfg.BaseURL = base
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}

	_, err = acceptance.Run(ctx, cfg, acceptance.NewHTTPClient(*connectTo), stdout)
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "interrupted")
		return exitFail
	case err != nil:
		fmt.Fprintf(stderr, "FAIL: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout, "PASS")
	return exitPass
}
