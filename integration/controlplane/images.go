package controlplane

import (
	"context"
	"path/filepath"
	"sync"

	"github.com/tinjis/tinjis/integration/sandbox"
	"github.com/tinjis/tinjis/integration/testimages"
	"github.com/tinjis/tinjis/internal/ociimage"
)

// The images the node itself runs.
const (
	pauseImage = testimages.PauseRef
	dnsImage   = "tinjis.test/coredns:1"
)

// builtImages are built once per test binary and imported into every node
// it starts: the product's images, the test programs' and CoreDNS.
var builtImages struct {
	once    sync.Once
	images  testimages.Images
	archive string
	err     error
}

// nodeImages returns the archive of every image the node runs, building it
// on first use.
func nodeImages(ctx context.Context, b binaries) (testimages.Images, string, error) {
	builtImages.once.Do(func() {
		dir := filepath.Join(sandbox.Dir(), "images")
		images, err := testimages.Build(ctx, dir)
		if err != nil {
			builtImages.err = err
			return
		}
		dns, err := ociimage.Build(dnsSpec(b.coredns))
		if err != nil {
			builtImages.err = err
			return
		}
		archive := filepath.Join(dir, "node-images.tar")
		if err := ociimage.WriteArchive(archive, append(images.All(), dns)...); err != nil {
			builtImages.err = err
			return
		}
		builtImages.images, builtImages.archive = images, archive
	})
	return builtImages.images, builtImages.archive, builtImages.err
}

// dnsSpec is CoreDNS (the pinned build of tools/build.sh) as an image. It
// runs as root, as the upstream image does, to bind port 53.
func dnsSpec(binary string) ociimage.Spec {
	return ociimage.Spec{
		Ref:        dnsImage,
		Entrypoint: []string{"/coredns"},
		User:       "0",
		Files:      []ociimage.File{{Path: "/coredns", Source: binary, Mode: 0o755}},
	}
}

// Images are the images of the product and of the test programs the node
// has: their names and digests.
func (cp *ControlPlane) Images() testimages.Images { return cp.images }
