// Command image-archives writes the project's images as OCI archives, one
// per image, for `kind load image-archive` or `ctr -n k8s.io images import`:
// payments.tar (the service) and fake-antaeus.tar (the Antaeus STAND-IN for
// reviewers who cannot build Antaeus). `make images` runs it with the
// binaries it has just built.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tinjis/tinjis/internal/images"
	"github.com/tinjis/tinjis/internal/ociimage"
)

func main() {
	payments := flag.String("payments", "", "the payments binary (make payments-binary)")
	fakeAntaeus := flag.String("fake-antaeus", "", "the fake Antaeus binary (make fake-antaeus-binary)")
	out := flag.String("out", "", "the directory the archives are written to")
	flag.Parse()
	if *payments == "" || *fakeAntaeus == "" || *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: image-archives -payments BINARY -fake-antaeus BINARY -out DIR")
		os.Exit(2)
	}
	if err := write(*out, []archive{
		{"payments.tar", images.Payments(*payments)},
		{"fake-antaeus.tar", images.FakeAntaeus(*fakeAntaeus)},
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// archive is one file of one image.
type archive struct {
	file string
	spec ociimage.Spec
}

func write(dir string, archives []archive) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, a := range archives {
		image, err := ociimage.Build(a.spec)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, a.file)
		if err := ociimage.WriteArchive(path, image); err != nil {
			return err
		}
		fmt.Printf("%s: %s (%s)\n", path, image.Ref, image.PinnedRef())
	}
	return nil
}
