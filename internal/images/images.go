// Package images says what is in each image the project builds: the
// payments service (the same image the root Dockerfile builds) and the
// Antaeus stand-in for tests and reviewers, each for every platform in
// Platforms. ociimage builds them.
package images

import (
	"net"
	"path/filepath"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tinjis/tinjis/internal/fakeantaeus"
	"github.com/tinjis/tinjis/internal/ociimage"
	"github.com/tinjis/tinjis/payments/settings"
)

// Platforms are the platforms of every image `make images` writes: kind's
// nodes are linux/amd64 on most machines and linux/arm64 on Apple silicon.
var Platforms = []v1.Platform{ociimage.LinuxAMD64, ociimage.LinuxARM64}

// Program is a binary of the project that goes into an image, and how
// `make` builds it.
type Program struct {
	// Name is the binary's file name, in the image and in BinDir.
	Name string
	// MakeTarget builds it, for the platform in GOOS and GOARCH, to the
	// path in the make variable OutputVar.
	MakeTarget, OutputVar string
}

// The programs in the images.
var (
	PaymentsProgram    = Program{Name: "payments", MakeTarget: "payments-binary", OutputVar: "PAYMENTS_BIN"}
	FakeAntaeusProgram = Program{Name: "fake-antaeus", MakeTarget: "fake-antaeus-binary", OutputVar: "FAKE_ANTAEUS_BIN"}
)

// Binary is where the program built for platform lies under binDir:
// binDir/linux_arm64/payments.
func (p Program) Binary(binDir string, platform v1.Platform) string {
	return filepath.Join(binDir, platform.OS+"_"+platform.Architecture, p.Name)
}

// variants are the program's binaries under binDir at path in the image,
// one per platform.
func (p Program) variants(binDir, path string) []ociimage.Variant {
	var variants []ociimage.Variant
	for _, platform := range Platforms {
		variants = append(variants, ociimage.Variant{
			Platform: platform,
			Files:    []ociimage.File{{Path: path, Source: p.Binary(binDir, platform), Mode: 0o755}},
		})
	}
	return variants
}

// Archive is one file `make images` writes: the image it holds.
type Archive struct {
	File    string
	Program Program
	// Spec is the image around the program's binaries under binDir.
	Spec func(binDir string) ociimage.Spec
}

// Archives are the files `make images` writes into its directory.
var Archives = []Archive{
	{File: "payments.tar", Program: PaymentsProgram, Spec: Payments},
	{File: "fake-antaeus.tar", Program: FakeAntaeusProgram, Spec: FakeAntaeus},
}

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

// Payments is the payments service image around the binaries that
// `make payments-binary` builds into binDir (see Program.Binary).
func Payments(binDir string) ociimage.Spec {
	return ociimage.Spec{
		Ref:          PaymentsRef,
		Entrypoint:   []string{"/payments"},
		User:         NonRootUser,
		ExposedPorts: paymentsPorts(),
		Variants:     PaymentsProgram.variants(binDir, "/payments"),
	}
}

// FakeAntaeus is the Antaeus stand-in's image around the binaries that
// `make fake-antaeus-binary` builds into binDir.
func FakeAntaeus(binDir string) ociimage.Spec {
	return ociimage.Spec{
		Ref:          FakeAntaeusRef,
		Entrypoint:   []string{"/fake-antaeus"},
		User:         NonRootUser,
		ExposedPorts: []int{fakeantaeus.Port},
		Variants:     FakeAntaeusProgram.variants(binDir, "/fake-antaeus"),
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
