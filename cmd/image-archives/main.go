// Command image-archives writes the project's images as OCI archives, one
// per image, for `kind load image-archive` or `ctr -n k8s.io images import`:
// payments.tar (the service) and fake-antaeus.tar (the Antaeus STAND-IN for
// reviewers who cannot build Antaeus). Each archive holds one image index
// with a manifest per platform of images.Platforms, whatever machine builds
// it: the binaries are built for each platform's GOOS and GOARCH by the make
// targets the Dockerfile and the tests use. `make images` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tinjis/tinjis/internal/images"
	"github.com/tinjis/tinjis/internal/ociimage"
)

func main() {
	out := flag.String("out", "", "the directory the archives are written to (the binaries go to DIR/bin)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: image-archives -out DIR   (run from the repository root)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	binDir := filepath.Join(*out, "bin")
	if err := buildBinaries(context.Background(), binDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := write(*out, binDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// buildBinaries runs each archive's make target once per platform.
func buildBinaries(ctx context.Context, binDir string) error {
	for _, archive := range images.Archives {
		for _, platform := range images.Platforms {
			output := archive.Program.Binary(binDir, platform)
			cmd := exec.CommandContext(ctx, "make", "--no-print-directory", archive.Program.MakeTarget, archive.Program.OutputVar+"="+output)
			cmd.Env = append(os.Environ(), "GOOS="+platform.OS, "GOARCH="+platform.Architecture)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("build %s for %s: %w", archive.Program.Name, platform.String(), err)
			}
		}
	}
	return nil
}

func write(dir, binDir string) error {
	var platforms []string
	for _, platform := range images.Platforms {
		platforms = append(platforms, platform.String())
	}
	for _, archive := range images.Archives {
		image, err := ociimage.Build(archive.Spec(binDir))
		if err != nil {
			return err
		}
		path := filepath.Join(dir, archive.File)
		if err := ociimage.WriteArchive(path, image); err != nil {
			return err
		}
		fmt.Printf("%s: %s (%s) for %s\n", path, image.Ref, image.PinnedRef(), strings.Join(platforms, ", "))
	}
	return nil
}
