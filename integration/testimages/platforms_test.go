package testimages_test

import (
	"archive/tar"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tinjis/tinjis/integration/internal/repo"
	"github.com/tinjis/tinjis/integration/testimages"
	"github.com/tinjis/tinjis/internal/images"
	"github.com/tinjis/tinjis/internal/ociimage"
	"github.com/tinjis/tinjis/payments/settings"
)

// elfMachines is the ELF machine a binary built for each platform declares.
var elfMachines = map[string]elf.Machine{
	"linux/amd64": elf.EM_X86_64,
	"linux/arm64": elf.EM_AARCH64,
}

// TestMakeImages checks the archives `make images` writes for reviewers:
// every platform, each with a binary for it, and the arm64 binary runs.
func TestMakeImages(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	started := time.Now()
	built, err := testimages.Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built the binaries and images (make images included) in %s", time.Since(started).Round(time.Millisecond))

	t.Run("each platform's manifest holds a binary for that platform", func(t *testing.T) {
		everyPlatformHasItsOwnBinary(t, built)
	})
	t.Run("the arm64 payments binary answers /healthz under qemu-user", func(t *testing.T) {
		arm64PaymentsServesUnderQemu(t, built)
	})
}

func everyPlatformHasItsOwnBinary(t *testing.T, built testimages.Images) {
	for _, image := range []ociimage.Image{built.Payments, built.FakeAntaeus} {
		t.Run(image.Ref.String(), func(t *testing.T) {
			var platforms []string
			for platform, binary := range entrypointBinaries(t, image) {
				platforms = append(platforms, platform)
				machine, err := elfMachine(binary)
				if err != nil {
					t.Errorf("%s: the entrypoint is no ELF binary: %v", platform, err)
					continue
				}
				t.Logf("%s: %s", platform, machine)
				if want, ok := elfMachines[platform]; !ok || machine != want {
					t.Errorf("the %s manifest holds a binary for %s", platform, machine)
				}
			}
			slices.Sort(platforms)
			if want := platformNames(images.Platforms); !slices.Equal(platforms, want) {
				t.Errorf("platforms %v, want %v", platforms, want)
			}
		})
	}
}

func arm64PaymentsServesUnderQemu(t *testing.T, built testimages.Images) {
	qemu, err := repo.Tool("qemu-aarch64-static")
	if err != nil {
		t.Fatal(err)
	}
	binary := filepath.Join(t.TempDir(), "payments")
	content := entrypointBinaries(t, built.Payments)[ociimage.LinuxARM64.String()]
	if err := os.WriteFile(binary, content, 0o755); err != nil {
		t.Fatal(err)
	}
	addr := freeLoopbackAddr(t)

	var log strings.Builder
	cmd := exec.Command(qemu, binary)
	cmd.Env = append(os.Environ(), settings.EnvAddr+"="+addr)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})

	started := time.Now()
	deadline := started.Add(30 * time.Second)
	for {
		body, err := get("http://" + addr + "/healthz")
		if err == nil {
			t.Logf("qemu-aarch64-static payments: GET /healthz answered %s after %s", body, time.Since(started).Round(time.Millisecond))
			return
		}
		select {
		case <-exited:
			t.Fatalf("the arm64 payments binary exited under qemu: %v\n%s", waitErr, log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /healthz answer within 30s: %v\n%s", err, log.String())
		}
	}
}

func get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, body)
	}
	return strings.TrimSpace(string(body)), nil
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func platformNames(platforms []v1.Platform) []string {
	var names []string
	for _, p := range platforms {
		names = append(names, p.String())
	}
	slices.Sort(names)
	return names
}

// entrypointBinaries reads, for each platform of image, the file its
// config's entrypoint runs, from the manifest's layer.
func entrypointBinaries(t *testing.T, image ociimage.Image) map[string][]byte {
	t.Helper()
	manifest, err := image.Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	binaries := map[string][]byte{}
	for _, desc := range manifest.Manifests {
		img, err := image.Index.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		config, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := config.Platform().String(); desc.Platform == nil || got != desc.Platform.String() {
			t.Errorf("manifest %s: the index says %v, its config %s", desc.Digest, desc.Platform, got)
		}
		binary, err := layerFile(img, strings.TrimPrefix(config.Config.Entrypoint[0], "/"))
		if err != nil {
			t.Fatal(err)
		}
		binaries[desc.Platform.String()] = binary
	}
	return binaries
}

func layerFile(img v1.Image, name string) ([]byte, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, layer := range layers {
		contents, err := layer.Uncompressed()
		if err != nil {
			return nil, err
		}
		reader := tar.NewReader(contents)
		for {
			header, err := reader.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				contents.Close()
				return nil, err
			}
			if header.Name == name {
				data, err := io.ReadAll(reader)
				contents.Close()
				return data, err
			}
		}
		contents.Close()
	}
	return nil, fmt.Errorf("no file %s in the image", name)
}

func elfMachine(binary []byte) (elf.Machine, error) {
	file, err := elf.NewFile(strings.NewReader(string(binary)))
	if err != nil {
		return 0, err
	}
	return file.Machine, nil
}
