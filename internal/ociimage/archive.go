package ociimage

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
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
		platform := Platform
		index = mutate.AppendManifests(index, mutate.IndexAddendum{
			Add: image.Image,
			Descriptor: v1.Descriptor{
				Platform:    &platform,
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

// writeLayout writes the image layout: oci-layout, index.json and every blob
// once, under blobs/sha256/.
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
		blobs, err := imageBlobs(image.Image)
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
