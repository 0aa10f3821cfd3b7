package ociimage_test

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/tinjis/tinjis/internal/ociimage"
)

func writeHostFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func serverSpec(t *testing.T, binary string) ociimage.Spec {
	t.Helper()
	return ociimage.Spec{
		Ref:          "registry.test/team/server:v1",
		Entrypoint:   []string{"/bin/server", "--flag"},
		User:         "65532:65532",
		ExposedPorts: []int{9000, 9090},
		Env:          []string{"MODE=test"},
		Variants: []ociimage.Variant{
			{Platform: ociimage.LinuxAMD64, Files: []ociimage.File{
				{Path: "/bin/server", Source: writeHostFile(t, binary), Mode: 0o755},
				{Path: "/etc/server/config", Source: writeHostFile(t, "setting"), Mode: 0o644},
			}},
			{Platform: ociimage.LinuxARM64, Files: []ociimage.File{
				{Path: "/bin/server", Source: writeHostFile(t, binary+" for arm64"), Mode: 0o755},
				{Path: "/etc/server/config", Source: writeHostFile(t, "setting"), Mode: 0o644},
			}},
		},
	}
}

// platformImages returns the image of each platform in index, by platform.
func platformImages(t *testing.T, index v1.ImageIndex) map[string]v1.Image {
	t.Helper()
	manifest, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if manifest.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %s, want %s", manifest.MediaType, types.OCIImageIndex)
	}
	images := map[string]v1.Image{}
	for _, desc := range manifest.Manifests {
		if desc.Platform == nil {
			t.Fatalf("manifest %s has no platform", desc.Digest)
		}
		img, err := index.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		images[desc.Platform.String()] = img
	}
	return images
}

func build(t *testing.T, spec ociimage.Spec) ociimage.Image {
	t.Helper()
	image, err := ociimage.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	return image
}

func TestTheSameFilesGiveTheSameDigestAndOtherFilesAnother(t *testing.T) {
	first := build(t, serverSpec(t, "binary one"))
	again := build(t, serverSpec(t, "binary one"))
	changed := build(t, serverSpec(t, "binary two"))

	if first.Digest != again.Digest {
		t.Errorf("two builds of the same files: %s and %s, want one digest", first.Digest, again.Digest)
	}
	if first.Digest == changed.Digest {
		t.Errorf("a changed binary kept the digest %s", first.Digest)
	}
	if digest, err := first.Index.Digest(); err != nil || digest != first.Digest {
		t.Errorf("Digest = %s, the index's digest is %s (%v)", first.Digest, digest, err)
	}
}

func TestEachPlatformHasAManifestWhoseConfigNamesThatPlatform(t *testing.T) {
	images := platformImages(t, build(t, serverSpec(t, "binary")).Index)

	if len(images) != 2 || images["linux/amd64"] == nil || images["linux/arm64"] == nil {
		t.Fatalf("platforms in the index: %v, want linux/amd64 and linux/arm64", slices.Sorted(maps.Keys(images)))
	}
	for platform, img := range images {
		config, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := config.OS + "/" + config.Architecture; got != platform {
			t.Errorf("the %s manifest's config says %s (containerd refuses an empty one)", platform, got)
		}
	}
}

func TestEachPlatformHoldsItsOwnFiles(t *testing.T) {
	images := platformImages(t, build(t, serverSpec(t, "binary")).Index)

	for platform, want := range map[string]string{"linux/amd64": "binary", "linux/arm64": "binary for arm64"} {
		if got := layerFiles(t, images[platform])["bin/server"]; got != want {
			t.Errorf("%s: /bin/server holds %q, want %q", platform, got, want)
		}
	}
}

// layerFiles reads the image's only layer: file name -> content.
func layerFiles(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d (%v), want 1", len(layers), err)
	}
	contents, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer contents.Close()
	files := map[string]string{}
	for _, f := range readTar(t, contents) {
		files[f.header.Name] = string(f.content)
	}
	return files
}

func TestTheConfigRunsTheEntrypointAsTheUser(t *testing.T) {
	image := build(t, serverSpec(t, "binary"))
	config, err := platformImages(t, image.Index)["linux/amd64"].ConfigFile()
	if err != nil {
		t.Fatal(err)
	}

	if !config.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("created = %s, want the Unix epoch", config.Created.Time)
	}
	if got := config.Config.Entrypoint; !slices.Equal(got, []string{"/bin/server", "--flag"}) {
		t.Errorf("entrypoint = %q", got)
	}
	if config.Config.Cmd != nil {
		t.Errorf("cmd = %q, want none", config.Config.Cmd)
	}
	if config.Config.User != "65532:65532" {
		t.Errorf("user = %q", config.Config.User)
	}
	if got := slices.Sorted(func(yield func(string) bool) {
		for port := range config.Config.ExposedPorts {
			yield(port)
		}
	}); !slices.Equal(got, []string{"9000/tcp", "9090/tcp"}) {
		t.Errorf("exposed ports = %q", got)
	}
	if !slices.Equal(config.Config.Env, []string{"MODE=test"}) {
		t.Errorf("env = %q", config.Config.Env)
	}
}

type entry struct {
	name    string
	mode    int64
	owner   string
	content string
}

func TestTheLayerHoldsTheFilesOwnedByRootUnderTheirDirectories(t *testing.T) {
	image := build(t, serverSpec(t, "binary"))
	layers, err := platformImages(t, image.Index)["linux/amd64"].Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	contents, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer contents.Close()

	var got []entry
	for _, f := range readTar(t, contents) {
		got = append(got, entry{f.header.Name, f.header.Mode, fmt.Sprintf("%d:%d", f.header.Uid, f.header.Gid), string(f.content)})
		if !f.header.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s modified at %s, want the epoch", f.header.Name, f.header.ModTime)
		}
	}
	want := []entry{
		{"bin/", 0o755, "0:0", ""},
		{"bin/server", 0o755, "0:0", "binary"},
		{"etc/", 0o755, "0:0", ""},
		{"etc/server/", 0o755, "0:0", ""},
		{"etc/server/config", 0o644, "0:0", "setting"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("layer entries:\n got %v\nwant %v", got, want)
	}
}

func TestAShortRefIsNamedAsContainerdNamesIt(t *testing.T) {
	spec := serverSpec(t, "binary")
	spec.Ref = "pause:1"
	image := build(t, spec)

	if got := image.Ref.String(); got != "docker.io/library/pause:1" {
		t.Errorf("ref = %q, want docker.io/library/pause:1", got)
	}
	if got := image.PinnedRef(); got != "docker.io/library/pause@"+image.Digest.String() {
		t.Errorf("pinned ref = %q", got)
	}
}

func TestABadSpecIsRefusedWithTheReason(t *testing.T) {
	tests := []struct {
		name   string
		change func(*ociimage.Spec)
		want   string
	}{
		{"a ref without a tag", func(s *ociimage.Spec) { s.Ref = "registry.test/server" }, "must have a tag"},
		{"a ref with a digest", func(s *ociimage.Spec) {
			s.Ref = "registry.test/server:v1@sha256:" + strings.Repeat("a", 64)
		}, "must have a tag and no digest"},
		{"a ref that is no reference", func(s *ociimage.Spec) { s.Ref = "Registry/Server:v1" }, `image reference "Registry/Server:v1"`},
		{"no entrypoint", func(s *ociimage.Spec) { s.Entrypoint = nil }, "the entrypoint is empty"},
		{"no platform", func(s *ociimage.Spec) { s.Variants = nil }, "no platform to build for"},
		{"a platform given twice", func(s *ociimage.Spec) { s.Variants[1].Platform = s.Variants[0].Platform }, "platform linux/amd64 is given twice"},
		{"a platform without architecture", func(s *ociimage.Spec) { s.Variants[1].Platform = v1.Platform{OS: "linux"} }, "needs an OS and an architecture"},
		{"a relative file path", func(s *ociimage.Spec) { s.Variants[0].Files[0].Path = "bin/server" }, `"bin/server" must be absolute and clean`},
		{"a file path with dots", func(s *ociimage.Spec) { s.Variants[0].Files[0].Path = "/bin/../server" }, "must be absolute and clean"},
		{"a file given twice", func(s *ociimage.Spec) { s.Variants[1].Files[1].Path = s.Variants[1].Files[0].Path }, `"/bin/server" is given twice`},
		{"a file inside a file", func(s *ociimage.Spec) { s.Variants[0].Files[1].Path = "/bin/server/config" }, `"/bin/server" is a file`},
		{"a missing source file", func(s *ociimage.Spec) { s.Variants[1].Files[1].Source = "/nonexistent/config" }, "/nonexistent/config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := serverSpec(t, "binary")
			tt.change(&spec)
			_, err := ociimage.Build(spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// readArchive unpacks an archive and opens it as an OCI image layout.
func readArchive(t *testing.T, archive string) layout.Path {
	t.Helper()
	file, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	dir := t.TempDir()
	for _, f := range readTar(t, file) {
		target := filepath.Join(dir, filepath.FromSlash(f.header.Name))
		if f.header.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(target, f.content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return layout.Path(dir)
}

type tarFile struct {
	header  *tar.Header
	content []byte
}

func readTar(t *testing.T, r io.Reader) []tarFile {
	t.Helper()
	var files []tarFile
	reader := tar.NewReader(r)
	for {
		header, err := reader.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		content, err := io.ReadAll(reader)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, tarFile{header, content})
	}
}

func TestAnArchiveHoldsEachImageUnderItsNameAndDigest(t *testing.T) {
	server := build(t, serverSpec(t, "server binary"))
	other := serverSpec(t, "other binary")
	other.Ref = "sidecar:2"
	sidecar := build(t, other)
	archive := filepath.Join(t.TempDir(), "images.tar")

	if err := ociimage.WriteArchive(archive, server, sidecar); err != nil {
		t.Fatal(err)
	}

	index, err := readArchive(t, archive).ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		image     ociimage.Image
		name, tag string
	}{
		{server, "registry.test/team/server:v1", "v1"},
		{sidecar, "docker.io/library/sidecar:2", "2"},
	}
	if len(manifest.Manifests) != len(want) {
		t.Fatalf("index.json lists %d manifests, want %d", len(manifest.Manifests), len(want))
	}
	for i, w := range want {
		desc := manifest.Manifests[i]
		if desc.Digest != w.image.Digest {
			t.Errorf("manifest %d: digest %s, want %s", i, desc.Digest, w.image.Digest)
		}
		if got := desc.Annotations["io.containerd.image.name"]; got != w.name {
			t.Errorf("manifest %d: io.containerd.image.name = %q, want %q", i, got, w.name)
		}
		if got := desc.Annotations["org.opencontainers.image.ref.name"]; got != w.tag {
			t.Errorf("manifest %d: org.opencontainers.image.ref.name = %q, want %q", i, got, w.tag)
		}
		if desc.MediaType != types.OCIImageIndex {
			t.Errorf("manifest %d: media type %s, want an image index of platforms", i, desc.MediaType)
		}
		platforms, err := index.ImageIndex(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Index(platforms); err != nil {
			t.Errorf("manifest %d: the archived image is not complete: %v", i, err)
		}
		if got := slices.Sorted(maps.Keys(platformImages(t, platforms))); !slices.Equal(got, []string{"linux/amd64", "linux/arm64"}) {
			t.Errorf("manifest %d: platforms %v", i, got)
		}
	}
}

func TestAnArchiveReadsBackAsTheImagesWritten(t *testing.T) {
	server := build(t, serverSpec(t, "server binary"))
	other := serverSpec(t, "other binary")
	other.Ref = "sidecar:2"
	sidecar := build(t, other)
	archive := filepath.Join(t.TempDir(), "images.tar")
	if err := ociimage.WriteArchive(archive, server, sidecar); err != nil {
		t.Fatal(err)
	}

	read, err := ociimage.ReadArchive(archive, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	if len(read) != 2 {
		t.Fatalf("read %d images, want 2", len(read))
	}
	for i, want := range []ociimage.Image{server, sidecar} {
		if read[i].Ref.String() != want.Ref.String() || read[i].Digest != want.Digest {
			t.Errorf("image %d: %s at %s, want %s at %s", i, read[i].Ref, read[i].Digest, want.Ref, want.Digest)
		}
		if got := layerFiles(t, platformImages(t, read[i].Index)["linux/arm64"])["bin/server"]; !strings.HasSuffix(got, "for arm64") {
			t.Errorf("image %d: its arm64 /bin/server holds %q", i, got)
		}
	}
}

func TestAnArchiveIsNotWrittenWhenAnImageIsGivenTwice(t *testing.T) {
	server := build(t, serverSpec(t, "server binary"))
	archive := filepath.Join(t.TempDir(), "images.tar")

	err := ociimage.WriteArchive(archive, server, server)

	if err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("error = %v, want one saying the image is given twice", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(archive)); len(entries) != 0 {
		t.Errorf("files left behind: %v", entries)
	}
}
