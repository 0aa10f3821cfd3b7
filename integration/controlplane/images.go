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

// nodeImageSet is every image the node runs, in one archive to import.
type nodeImageSet struct {
	test    testimages.Images
	all     []ociimage.Image
	archive string
}

// builtImages are built once per test binary and imported into every node
// it starts: the product's images, the test programs' and CoreDNS.
var builtImages struct {
	once sync.Once
	set  nodeImageSet
	err  error
}

// nodeImages returns the node's images, building them on first use.
func nodeImages(ctx context.Context, b binaries) (nodeImageSet, error) {
	builtImages.once.Do(func() {
		builtImages.set, builtImages.err = buildNodeImages(ctx, b, filepath.Join(sandbox.Dir(), "images"))
	})
	return builtImages.set, builtImages.err
}

func buildNodeImages(ctx context.Context, b binaries, dir string) (nodeImageSet, error) {
	test, err := testimages.Build(ctx, dir)
	if err != nil {
		return nodeImageSet{}, err
	}
	dns, err := ociimage.Build(dnsSpec(b.coredns))
	if err != nil {
		return nodeImageSet{}, err
	}
	set := nodeImageSet{test: test, all: append(test.All(), dns), archive: filepath.Join(dir, "node-images.tar")}
	return set, ociimage.WriteArchive(set.archive, set.all...)
}

// dnsSpec is CoreDNS (the pinned build of tools/build.sh) as an image. It
// runs as root, as the upstream image does, to bind port 53.
func dnsSpec(binary string) ociimage.Spec {
	return ociimage.Spec{
		Ref:        dnsImage,
		Entrypoint: []string{"/coredns"},
		User:       "0",
		Variants:   testimages.NodeVariant(ociimage.File{Path: "/coredns", Source: binary, Mode: 0o755}),
	}
}

// nameByDigest gives every imported image its pinned name too
// (repository@sha256:…), as a pull by digest would: the container runtime
// finds an image only under a name it has, and stacks pin digests.
func nameByDigest(ctx context.Context, l runtimeLayout, images []ociimage.Image) error {
	for _, image := range images {
		if err := ctr(ctx, l, "images", "tag", "--force", image.Ref.String(), image.PinnedRef()); err != nil {
			return err
		}
	}
	return nil
}

// Images are the images of the product and of the test programs the node
// has: their names and digests.
func (cp *ControlPlane) Images() testimages.Images { return cp.images }
