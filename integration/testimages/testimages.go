// Package testimages builds every image the test node runs: the pod
// sandbox (pause) and the connection agent (probe) for the node's platform,
// and the payments service and the Antaeus stand-in exactly as a reviewer
// gets them, from the archives `make images` writes; from this checkout,
// with no registry.
package testimages

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tinjis/tinjis/integration/internal/repo"
	"github.com/tinjis/tinjis/internal/images"
	"github.com/tinjis/tinjis/internal/ociimage"
)

// NodePlatform is the platform of the test node: this machine's.
var NodePlatform = v1.Platform{OS: "linux", Architecture: runtime.GOARCH}

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
		Variants:   NodeVariant(ociimage.File{Path: "/pause", Source: binary, Mode: 0o755}),
	}
}

// ProbeSpec is the connection agent's image, serving on ProbePort.
func ProbeSpec(binary string) ociimage.Spec {
	return ociimage.Spec{
		Ref:          ProbeRef,
		Entrypoint:   []string{"/probe", "-listen=:" + strconv.Itoa(ProbePort)},
		User:         images.NonRootUser,
		ExposedPorts: []int{ProbePort},
		Variants:     NodeVariant(ociimage.File{Path: "/probe", Source: binary, Mode: 0o755}),
	}
}

// NodeVariant is an image of files built for the node's platform only.
func NodeVariant(files ...ociimage.File) []ociimage.Variant {
	return []ociimage.Variant{{Platform: NodePlatform, Files: files}}
}

// ImagesDir is where Build has `make images` write its archives, under
// its directory.
const ImagesDir = "make-images"

// Build runs `make images` into dir/make-images and reads its archives
// back (payments and the stand-in, for every platform), and builds pause
// and probe for the node into dir.
func Build(ctx context.Context, dir string) (Images, error) {
	root, err := repo.Root()
	if err != nil {
		return Images{}, err
	}
	imagesDir := filepath.Join(dir, ImagesDir)
	steps := []*exec.Cmd{
		exec.CommandContext(ctx, "make", "--no-print-directory", "-C", root, "images", "IMAGES_DIR="+imagesDir),
		exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", dir+string(filepath.Separator),
			"./cmd/pause", "./cmd/probe"),
	}
	steps[1].Dir = filepath.Join(root, "integration")
	steps[1].Env = append(os.Environ(), "CGO_ENABLED=0")
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
		{&built.Pause, PauseSpec(filepath.Join(dir, "pause"))},
		{&built.Probe, ProbeSpec(filepath.Join(dir, "probe"))},
	} {
		if *image.into, err = ociimage.Build(image.spec); err != nil {
			return Images{}, err
		}
	}
	into := map[images.Program]*ociimage.Image{images.PaymentsProgram: &built.Payments, images.FakeAntaeusProgram: &built.FakeAntaeus}
	for _, archive := range images.Archives {
		read, err := ociimage.ReadArchive(filepath.Join(imagesDir, archive.File), filepath.Join(dir, "layout-"+archive.File))
		if err != nil {
			return Images{}, err
		}
		if len(read) != 1 || into[archive.Program] == nil {
			return Images{}, fmt.Errorf("make images wrote %d images into %s, want the one of %s", len(read), archive.File, archive.Program.Name)
		}
		*into[archive.Program] = read[0]
	}
	return built, nil
}
