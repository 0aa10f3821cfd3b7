// Package testimages builds every image the test node runs: the pod
// sandbox (pause), the connection agent (probe), the payments service and
// the Antaeus stand-in, from this checkout, with no registry.
package testimages

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/tinjis/tinjis/integration/internal/repo"
	"github.com/tinjis/tinjis/internal/images"
	"github.com/tinjis/tinjis/internal/ociimage"
)

// Image names of the test-only programs, under the reserved .test domain so
// that nothing can ever pull them.
const (
	PauseRef = "tinjis.test/pause:1"
	ProbeRef = "tinjis.test/probe:1"
)

// ProbePort is where the probe image serves.
const ProbePort = 8080

// Images are the built images, each with its full name and digest.
type Images struct {
	Pause, Probe, Payments, FakeAntaeus ociimage.Image
}

// All lists the images.
func (i Images) All() []ociimage.Image {
	return []ociimage.Image{i.Pause, i.Probe, i.Payments, i.FakeAntaeus}
}

// WriteArchive writes every image into one OCI archive for
// `ctr -n k8s.io images import`.
func (i Images) WriteArchive(path string) error {
	return ociimage.WriteArchive(path, i.All()...)
}

// PauseSpec is the pod sandbox image around the pause binary.
func PauseSpec(binary string) ociimage.Spec {
	return ociimage.Spec{
		Ref:        PauseRef,
		Entrypoint: []string{"/pause"},
		User:       images.NonRootUser,
		Files:      []ociimage.File{{Path: "/pause", Source: binary, Mode: 0o755}},
	}
}

// ProbeSpec is the connection agent's image, serving on ProbePort.
func ProbeSpec(binary string) ociimage.Spec {
	return ociimage.Spec{
		Ref:          ProbeRef,
		Entrypoint:   []string{"/probe", "-listen=:" + strconv.Itoa(ProbePort)},
		User:         images.NonRootUser,
		ExposedPorts: []int{ProbePort},
		Files:        []ociimage.File{{Path: "/probe", Source: binary, Mode: 0o755}},
	}
}

// Build compiles the four programs into binDir (payments and the stand-in
// with their make targets, as `make images` does) and builds their images.
func Build(ctx context.Context, binDir string) (Images, error) {
	root, err := repo.Root()
	if err != nil {
		return Images{}, err
	}
	bin := func(name string) string { return filepath.Join(binDir, name) }
	steps := []*exec.Cmd{
		exec.CommandContext(ctx, "make", "--no-print-directory", "-C", root, "payments-binary", "PAYMENTS_BIN="+bin("payments")),
		exec.CommandContext(ctx, "make", "--no-print-directory", "-C", root, "fake-antaeus-binary", "FAKE_ANTAEUS_BIN="+bin("fake-antaeus")),
		exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", binDir+string(filepath.Separator),
			"./cmd/pause", "./cmd/probe"),
	}
	steps[2].Dir = filepath.Join(root, "integration")
	steps[2].Env = append(os.Environ(), "CGO_ENABLED=0")
	for _, step := range steps {
		if out, err := step.CombinedOutput(); err != nil {
			return Images{}, fmt.Errorf("%s: %w\n%s", step, err, out)
		}
	}

	var built Images
	for _, image := range []struct {
		into *ociimage.Image
		spec ociimage.Spec
	}{
		{&built.Pause, PauseSpec(bin("pause"))},
		{&built.Probe, ProbeSpec(bin("probe"))},
		{&built.Payments, images.Payments(bin("payments"))},
		{&built.FakeAntaeus, images.FakeAntaeus(bin("fake-antaeus"))},
	} {
		if *image.into, err = ociimage.Build(image.spec); err != nil {
			return Images{}, err
		}
	}
	return built, nil
}
