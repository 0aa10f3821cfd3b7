// Package images says what is in each image the project builds: the
// payments service (the same image the root Dockerfile builds) and the
// Antaeus stand-in for tests and reviewers. ociimage builds them.
package images

import (
	"net"
	"strconv"

	"github.com/tinjis/tinjis/internal/fakeantaeus"
	"github.com/tinjis/tinjis/internal/ociimage"
	"github.com/tinjis/tinjis/payments/settings"
)

// Image names.
const (
	// PaymentsRef is the image the dev stack deploys (Pulumi.dev.yaml).
	PaymentsRef = "ghcr.io/tinjis/tinjis/payments:main"
	// FakeAntaeusRef names the Antaeus STAND-IN, never the real Antaeus: its
	// registry is under the reserved .test domain, so it can never be pulled
	// from anywhere, only imported; not "latest", which the kubelet would try
	// to pull.
	FakeAntaeusRef = "tinjis.test/fake-antaeus:stand-in"
)

// NonRootUser is distroless's "nonroot" user and group, as numbers so that
// the kubelet can verify runAsNonRoot.
const NonRootUser = "65532:65532"

// Payments is the payments service image around the binary that
// `make payments-binary` builds.
func Payments(binary string) ociimage.Spec {
	return ociimage.Spec{
		Ref:          PaymentsRef,
		Entrypoint:   []string{"/payments"},
		User:         NonRootUser,
		ExposedPorts: paymentsPorts(),
		Files:        []ociimage.File{{Path: "/payments", Source: binary, Mode: 0o755}},
	}
}

// FakeAntaeus is the Antaeus stand-in's image around the binary that
// `make fake-antaeus-binary` builds.
func FakeAntaeus(binary string) ociimage.Spec {
	return ociimage.Spec{
		Ref:          FakeAntaeusRef,
		Entrypoint:   []string{"/fake-antaeus"},
		User:         NonRootUser,
		ExposedPorts: []int{fakeantaeus.Port},
		Files:        []ociimage.File{{Path: "/fake-antaeus", Source: binary, Mode: 0o755}},
	}
}

// paymentsPorts are the ports of the service's default addresses: charges,
// then metrics.
func paymentsPorts() []int {
	defaults := settings.Default()
	return []int{portOf(defaults.Addr), portOf(defaults.MetricsAddr)}
}

func portOf(addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		panic("a payments default address is not host:port: " + err.Error())
	}
	number, err := strconv.Atoi(port)
	if err != nil {
		panic("a payments default port is not a number: " + port)
	}
	return number
}
