package acceptance

import (
	"context"
	"net"
	"net/http"
)

// NewHTTPClient returns the client a run uses. With connectTo (a host, or
// host:port) every connection goes to that address instead of the URL's
// host, while the Host header and TLS server name stay the URL's: the way to
// reach an Ingress whose host name is not in DNS yet. Without a port,
// connectTo keeps the URL's port.
func NewHTTPClient(connectTo string) *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if connectTo != "" {
		dialer := &net.Dialer{}
		transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, redirectAddress(addr, connectTo))
		}
	}
	return &http.Client{Transport: transport}
}

// redirectAddress replaces addr's host by connectTo's, and its port too when
// connectTo has one.
func redirectAddress(addr, connectTo string) string {
	if _, _, err := net.SplitHostPort(connectTo); err == nil {
		return connectTo
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return connectTo
	}
	return net.JoinHostPort(connectTo, port)
}
