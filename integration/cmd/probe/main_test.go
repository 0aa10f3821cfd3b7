package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
)

func ask(t *testing.T, probe *httptest.Server, path string, query url.Values) (int, Result) {
	t.Helper()
	resp, err := http.Get(probe.URL + path + "?" + query.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var result Result
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&result); err != nil {
			t.Fatal(err)
		}
	} else {
		body, _ := io.ReadAll(resp.Body)
		result.Error = string(body)
	}
	return resp.StatusCode, result
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	listener.Close()
	return addr
}

func TestADialSaysWhetherItConnectedAndWhyNot(t *testing.T) {
	probe := httptest.NewServer(newMux())
	defer probe.Close()
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()

	tests := []struct {
		name          string
		addr, timeout string
		want          Result
	}{
		{"a listening port connects", open.Addr().String(), "1s", Result{Connected: true}},
		{"a closed port is refused", closedPort(t), "1s", Result{Reason: "refused"}},
		{"a dial without time for an answer times out", open.Addr().String(), "1ns", Result{Reason: "timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, got := ask(t, probe, "/dial", url.Values{"addr": {tt.addr}, "timeout": {tt.timeout}})
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, got.Error)
			}
			if got.Connected != tt.want.Connected || got.Reason != tt.want.Reason {
				t.Errorf("got %+v, want connected=%v reason=%q", got, tt.want.Connected, tt.want.Reason)
			}
			if !got.Connected && got.Error == "" {
				t.Error("a failed dial carries no error text")
			}
		})
	}
}

func TestEveryHTTPProbeUsesAConnectionOfItsOwn(t *testing.T) {
	probe := httptest.NewServer(newMux())
	defer probe.Close()
	var connections atomic.Int32
	target := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	target.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			connections.Add(1)
		}
	}
	target.Start()
	defer target.Close()

	for range 2 {
		status, got := ask(t, probe, "/http", url.Values{"url": {target.URL}})
		if status != http.StatusOK || !got.Connected || got.Status != http.StatusOK || got.Body != "hello" {
			t.Fatalf("got %d %+v, want a connected 200 with the body", status, got)
		}
	}
	if n := connections.Load(); n != 2 {
		t.Errorf("two probes opened %d connections, want 2", n)
	}
	if _, got := ask(t, probe, "/http", url.Values{"url": {"http://" + closedPort(t)}}); got.Connected || got.Reason != "refused" {
		t.Errorf("a GET to a closed port: %+v, want refused", got)
	}
}

func TestABadQueryIsRefusedWithTheReason(t *testing.T) {
	probe := httptest.NewServer(newMux())
	defer probe.Close()
	tests := []struct {
		name  string
		path  string
		query url.Values
	}{
		{"a dial without addr", "/dial", url.Values{}},
		{"a GET without url", "/http", url.Values{}},
		{"a timeout that is no duration", "/dial", url.Values{"addr": {"127.0.0.1:1"}, "timeout": {"soon"}}},
		{"a timeout above the limit", "/dial", url.Values{"addr": {"127.0.0.1:1"}, "timeout": {"1h"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, got := ask(t, probe, tt.path, tt.query); status != http.StatusBadRequest || got.Error == "" {
				t.Errorf("got %d %q, want 400 with the reason", status, got.Error)
			}
		})
	}
}
