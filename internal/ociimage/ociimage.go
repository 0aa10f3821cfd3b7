// Package ociimage builds small container images from local files, one
// single-layer image per platform under one OCI image index, and writes them
// as OCI image-layout archives that `ctr images import` and
// `kind load image-archive` take, with no registry and no Docker. Builds are
// reproducible: the same files give the same digest.
package ociimage

import (
	"archive/tar"
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Linux platforms by architecture: what kind nodes run on amd64 machines
// and on arm64 ones (Apple silicon).
var (
	LinuxAMD64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	LinuxARM64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

// epoch is every image's creation time and every file's modification time,
// so that a build depends on the files' contents only.
var epoch = time.Unix(0, 0).UTC()

// Spec describes an image: its name, how it runs and the files it holds.
type Spec struct {
	// Ref names the image, with a tag: "ghcr.io/tinjis/tinjis/payments:main".
	// A short name is normalised as containerd does ("pause:1" is
	// "docker.io/library/pause:1").
	Ref        string
	Entrypoint []string
	// User is "uid:gid" or "uid"; numeric, so that the kubelet can check
	// runAsNonRoot without a passwd file in the image.
	User string
	// ExposedPorts are TCP ports.
	ExposedPorts []int
	Env          []string
	// Variants are the platforms the image is built for, each with its
	// files (a binary built for that platform).
	Variants []Variant
}

// Variant is the image for one platform.
type Variant struct {
	Platform v1.Platform
	Files    []File
}

// File is a host file copied into the image, owned by root.
type File struct {
	// Path is the absolute path in the image.
	Path string
	// Source is the file on this machine.
	Source string
	Mode   os.FileMode
}

// Image is a built image and the name it is imported under.
type Image struct {
	// Ref is the full normalised name, e.g. "docker.io/library/pause:1".
	Ref reference.NamedTagged
	// Index lists one manifest per platform; the container runtime runs
	// the one of its node.
	Index v1.ImageIndex
	// Digest is the index's digest: what `ctr images ls` shows and what a
	// pod can pin with PinnedRef.
	Digest v1.Hash
}

// PinnedRef is the image's repository at its digest, e.g.
// "ghcr.io/tinjis/tinjis/payments@sha256:…".
func (i Image) PinnedRef() string {
	return i.Ref.Name() + "@" + i.Digest.String()
}

// Build makes the image: for each variant, one layer holding its files on
// an empty base, an OCI manifest and a config for its platform created at
// the Unix epoch; and the OCI index of those manifests.
func Build(spec Spec) (Image, error) {
	ref, err := parseRef(spec.Ref)
	if err != nil {
		return Image{}, err
	}
	if len(spec.Entrypoint) == 0 {
		return Image{}, fmt.Errorf("image %s: the entrypoint is empty", spec.Ref)
	}
	if len(spec.Variants) == 0 {
		return Image{}, fmt.Errorf("image %s: no platform to build for", spec.Ref)
	}
	index := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	built := map[string]bool{}
	for _, variant := range spec.Variants {
		platform := variant.Platform
		if platform.OS == "" || platform.Architecture == "" {
			return Image{}, fmt.Errorf("image %s: a platform needs an OS and an architecture, not %q", spec.Ref, platform.String())
		}
		if built[platform.String()] {
			return Image{}, fmt.Errorf("image %s: platform %s is given twice", spec.Ref, platform.String())
		}
		built[platform.String()] = true
		img, err := buildVariant(spec, variant)
		if err != nil {
			return Image{}, fmt.Errorf("image %s for %s: %w", spec.Ref, platform.String(), err)
		}
		index = mutate.AppendManifests(index, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &platform},
		})
	}
	digest, err := index.Digest()
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	return Image{Ref: ref, Index: index, Digest: digest}, nil
}

// buildVariant makes the image of one platform.
func buildVariant(spec Spec, variant Variant) (v1.Image, error) {
	layer, err := filesLayer(variant.Files)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "ociimage.Build", Comment: "files of the image"},
	})
	if err != nil {
		return nil, err
	}
	configFile, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	configFile = configFile.DeepCopy()
	configFile.OS = variant.Platform.OS
	configFile.Architecture = variant.Platform.Architecture
	configFile.Variant = variant.Platform.Variant
	configFile.Created = v1.Time{Time: epoch}
	configFile.Config = v1.Config{
		Entrypoint:   spec.Entrypoint,
		User:         spec.User,
		Env:          spec.Env,
		ExposedPorts: exposedPorts(spec.ExposedPorts),
	}
	return mutate.ConfigFile(img, configFile)
}

// parseRef normalises ref as containerd and the kubelet do, and requires a
// tag: an import without one would name nothing a pod can ask for.
func parseRef(ref string) (reference.NamedTagged, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	tagged, ok := named.(reference.NamedTagged)
	if _, digested := named.(reference.Digested); !ok || digested {
		return nil, fmt.Errorf("image reference %q must have a tag and no digest", ref)
	}
	return tagged, nil
}

func exposedPorts(ports []int) map[string]struct{} {
	if len(ports) == 0 {
		return nil
	}
	exposed := make(map[string]struct{}, len(ports))
	for _, port := range ports {
		exposed[strconv.Itoa(port)+"/tcp"] = struct{}{}
	}
	return exposed
}

// filesLayer writes files, and the directories above them, into one gzipped
// tar layer. Entries are sorted and carry no time or owner of this machine.
func filesLayer(files []File) (v1.Layer, error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	dirs := map[string]bool{}
	written := map[string]bool{}
	for _, file := range slices.SortedFunc(slices.Values(files), func(a, b File) int { return cmp.Compare(a.Path, b.Path) }) {
		if !path.IsAbs(file.Path) || path.Clean(file.Path) != file.Path || file.Path == "/" {
			return nil, fmt.Errorf("file path %q must be absolute and clean", file.Path)
		}
		if written[file.Path] {
			return nil, fmt.Errorf("file path %q is given twice", file.Path)
		}
		written[file.Path] = true
		for _, dir := range parentDirs(file.Path) {
			if written[dir] {
				return nil, fmt.Errorf("%q is a file, so %q cannot be in it", dir, file.Path)
			}
			if dirs[dir] {
				continue
			}
			dirs[dir] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir[1:] + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
		}
		if err := writeFile(tw, file); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer := raw.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layer)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

func writeFile(tw *tar.Writer, file File) error {
	content, err := os.ReadFile(file.Source)
	if err != nil {
		return fmt.Errorf("file %s of the image: %w", file.Path, err)
	}
	header := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     file.Path[1:],
		Mode:     int64(file.Mode.Perm()),
		Size:     int64(len(content)),
		ModTime:  epoch,
		Format:   tar.FormatPAX,
	}
	if err := tw.WriteHeader(header); err != nil {
		return err
	}
	_, err = tw.Write(content)
	return err
}

// parentDirs lists the directories above p, outermost first: "/a/b/c" gives
// "/a", "/a/b".
func parentDirs(p string) []string {
	var dirs []string
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		dirs = append(dirs, dir)
	}
	slices.Reverse(dirs)
	return dirs
}
