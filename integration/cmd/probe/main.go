// Command probe is the connection agent of the test node's pods: asked over
// HTTP, it makes one fresh connection from its pod and says what happened,
// so a test can tell a refused connection from a dropped one.
//
//	GET /dial?addr=host:port&timeout=1s   one TCP connection
//	GET /http?url=http://…&timeout=1s    one GET on a new connection
//	GET /dns?server=ip:53&name=…&timeout=1s  one DNS query over UDP
//	GET /healthz                          200 while it runs
//
// Each answer is JSON: {"connected":true} or {"connected":false,
// "reason":"refused"|"timeout"|"unreachable"|"error","error":"…"}; /http
// adds "status" and "body".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Reasons a connection was not made.
const (
	reasonRefused     = "refused"
	reasonTimeout     = "timeout"
	reasonUnreachable = "unreachable"
	reasonError       = "error"
)

// maxTimeout bounds what a caller may ask for, so no request hangs.
const maxTimeout = 30 * time.Second

// bodyLimit is how much of an /http answer's body is returned.
const bodyLimit = 4 << 10

func main() {
	listen := flag.String("listen", "", "address to serve on, e.g. :8080")
	flag.Parse()
	if *listen == "" {
		fmt.Fprintln(os.Stderr, "usage: probe -listen ADDRESS")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if err := serve(ctx, *listen, logger); err != nil {
		logger.Error("stopped", "error", err.Error())
		os.Exit(1)
	}
}

func serve(ctx context.Context, addr string, logger *slog.Logger) error {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	server := &http.Server{Handler: newMux(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	logger.Info("listening", "addr", listener.Addr().String())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), maxTimeout)
	defer cancel()
	return server.Shutdown(shutdownCtx)
}

// Result is the answer to every probe.
type Result struct {
	Connected bool   `json:"connected"`
	Reason    string `json:"reason,omitempty"`
	Error     string `json:"error,omitempty"`
	Status    int    `json:"status,omitempty"`
	Body      string `json:"body,omitempty"`
}

func newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /dial", func(w http.ResponseWriter, r *http.Request) {
		probe(w, r, "addr", func(ctx context.Context, addr string) Result {
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return failed(err)
			}
			conn.Close()
			return Result{Connected: true}
		})
	})
	mux.HandleFunc("GET /http", func(w http.ResponseWriter, r *http.Request) {
		probe(w, r, "url", httpGet)
	})
	mux.HandleFunc("GET /dns", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			http.Error(w, "the query needs name=", http.StatusBadRequest)
			return
		}
		probe(w, r, "server", func(ctx context.Context, server string) Result {
			return lookup(ctx, server, name)
		})
	})
	return mux
}

// probe reads the target and the timeout, runs check within it and writes
// its result.
func probe(w http.ResponseWriter, r *http.Request, param string, check func(context.Context, string) Result) {
	target := r.URL.Query().Get(param)
	if target == "" {
		http.Error(w, fmt.Sprintf("the query needs %s=", param), http.StatusBadRequest)
		return
	}
	timeout := time.Second
	if raw := r.URL.Query().Get("timeout"); raw != "" {
		parsed, err := time.ParseDuration(raw)
		if err != nil || parsed <= 0 || parsed > maxTimeout {
			http.Error(w, fmt.Sprintf("timeout must be a duration above 0 and at most %s, got %q", maxTimeout, raw), http.StatusBadRequest)
			return
		}
		timeout = parsed
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	result := check(ctx, target)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(result)
}

// httpGet makes one GET on a connection of its own, closed afterwards.
func httpGet(ctx context.Context, url string) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Result{Reason: reasonError, Error: err.Error()}
	}
	transport := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	defer transport.CloseIdleConnections()
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return failed(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, bodyLimit))
	if err != nil {
		return failed(err)
	}
	return Result{Connected: true, Status: resp.StatusCode, Body: string(body)}
}

// lookup asks server for name's addresses over UDP. Any answer, "no such
// name" included, means the query got through.
func lookup(ctx context.Context, server, name string) Result {
	resolver := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "udp", server)
		},
	}
	_, err := resolver.LookupHost(ctx, strings.TrimSuffix(name, ".")+".")
	var dnsErr *net.DNSError
	if err == nil || (errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		return Result{Connected: true}
	}
	return failed(err)
}

// failed says why a connection failed: a refusal (RST, or ICMP port
// unreachable) comes at once, a timeout when packets are dropped.
func failed(err error) Result {
	reason := reasonError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = reasonRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		reason = reasonUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		reason = reasonTimeout
	}
	return Result{Reason: reason, Error: err.Error()}
}
