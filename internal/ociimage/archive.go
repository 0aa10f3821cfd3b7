package ociimage

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Annotations on each manifest in index.json. containerd names an imported
// image after the first; the second holds the tag, as in the archives
// containerd and Docker export.
const (
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

// WriteArchive writes images as one OCI image-layout tar at path, replacing
// it only once the archive is complete. `ctr -n k8s.io images import path`
// (and `kind load image-archive path`) imports each under its Ref.
func WriteArchive(path string, images ...Image) (err error) {
	if len(images) == 0 {
		return errors.New("an image archive needs at least one image")
	}
	index := v1.ImageIndex(empty.Index)
	refs := map[string]bool{}
	for _, image := range images {
		ref := image.Ref.String()
		if refs[ref] {
			return fmt.Errorf("image %s is given twice", ref)
		}
		refs[ref] = true
		index = mutate.AppendManifests(index, mutate.IndexAddendum{
			Add: image.Index,
			Descriptor: v1.Descriptor{
				Annotations: map[string]string{annotationImageName: ref, annotationRefName: image.Ref.Tag()},
			},
		})
	}

	partial, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".partial-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			partial.Close()
			os.Remove(partial.Name())
		}
	}()
	if err := writeLayout(partial, index, images); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := partial.Chmod(0o644); err != nil {
		return err
	}
	if err := partial.Close(); err != nil {
		return err
	}
	return os.Rename(partial.Name(), path)
}

// writeLayout writes the image layout: oci-layout, index.json (one entry per
// image, pointing at its index of platforms) and every blob once, under
// blobs/sha256/.
func writeLayout(w io.Writer, index v1.ImageIndex, images []Image) error {
	tw := tar.NewWriter(w)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	if err := writeEntry(tw, "oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	indexJSON, err := index.RawManifest()
	if err != nil {
		return err
	}
	if err := writeEntry(tw, "index.json", indexJSON); err != nil {
		return err
	}
	written := map[v1.Hash]bool{}
	for _, image := range images {
		blobs, err := indexBlobs(image.Index)
		if err != nil {
			return fmt.Errorf("image %s: %w", image.Ref, err)
		}
		for _, b := range blobs {
			if written[b.digest] {
				continue
			}
			written[b.digest] = true
			if err := writeEntry(tw, "blobs/sha256/"+b.digest.Hex, b.content); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

type blob struct {
	digest  v1.Hash
	content []byte
}

// indexBlobs returns the index and the blobs of every image it lists.
func indexBlobs(index v1.ImageIndex) ([]blob, error) {
	raw, err := index.RawManifest()
	if err != nil {
		return nil, err
	}
	digest, err := index.Digest()
	if err != nil {
		return nil, err
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		return nil, err
	}
	blobs := []blob{{digest, raw}}
	for _, desc := range manifest.Manifests {
		img, err := index.Image(desc.Digest)
		if err != nil {
			return nil, err
		}
		imgBlobs, err := imageBlobs(img)
		if err != nil {
			return nil, err
		}
		blobs = append(blobs, imgBlobs...)
	}
	return blobs, nil
}

// imageBlobs returns the manifest, the config and the compressed layers.
func imageBlobs(img v1.Image) ([]blob, error) {
	manifest, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	manifestDigest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	configDigest, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	blobs := []blob{{manifestDigest, manifest}, {configDigest, config}}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, layer := range layers {
		digest, err := layer.Digest()
		if err != nil {
			return nil, err
		}
		compressed, err := layer.Compressed()
		if err != nil {
			return nil, err
		}
		content, err := io.ReadAll(compressed)
		compressed.Close()
		if err != nil {
			return nil, err
		}
		blobs = append(blobs, blob{digest, content})
	}
	return blobs, nil
}

func writeEntry(tw *tar.Writer, name string, content []byte) error {
	header := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: epoch, Format: tar.FormatPAX}
	if err := tw.WriteHeader(header); err != nil {
		return err
	}
	_, err := tw.Write(content)
	return err
}

// ReadArchive reads back the images of an archive WriteArchive wrote, in the
// order of its index.json, unpacking it into dir (a new or empty directory):
// the images read their blobs from there, so dir must outlive them.
func ReadArchive(path, dir string) ([]Image, error) {
	if err := untar(path, dir); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	manifest, err := top.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var images []Image
	for _, desc := range manifest.Manifests {
		ref, err := parseRef(desc.Annotations[annotationImageName])
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		index, err := top.ImageIndex(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("read %s: image %s is not an image index: %w", path, ref, err)
		}
		images = append(images, Image{Ref: ref, Index: index, Digest: desc.Digest})
	}
	return images, nil
}

// untar unpacks the regular files and directories of an image-layout tar
// into dir, refusing any name that would land outside it.
func untar(path, dir string) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	reader := tar.NewReader(file)
	for {
		header, err := reader.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.FromSlash(strings.TrimSuffix(header.Name, "/"))
		switch header.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := root.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return err
			}
			out, err := root.Create(name)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, reader)
			if closeErr := out.Close(); err == nil {
				err = closeErr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: an image layout holds only files and directories", header.Name)
		}
	}
}
