package testimages_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinjis/tinjis/integration/sandbox"
	"github.com/tinjis/tinjis/integration/testimages"
)

// ctrImports are the two ways the archive is imported: as the node harness
// does, and as `kind load image-archive` does (kind pipes the archive to
// this command on every node).
var ctrImports = []struct {
	name  string
	args  func(archive string) []string
	stdin bool
}{
	{"ctr images import", func(archive string) []string { return []string{"images", "import", archive} }, false},
	{"kind load image-archive", func(string) []string {
		return []string{"images", "import", "--all-platforms", "--digests", "--snapshotter=overlayfs", "-"}
	}, true},
}

func TestTheImagesImportIntoContainerdUnderTheirNamesAndDigests(t *testing.T) {
	// A containerd of the test's own, as root, inside the sandbox.
	sandbox.Require(t)
	for _, tool := range []string{"containerd", "ctr"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("importing images needs %s on PATH (Debian package containerd: make tools installs it)", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	t.Cleanup(func() { assertNothingMountedUnder(t, dir) })

	started := time.Now()
	built, err := testimages.Build(ctx, filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built the binaries and images in %s", time.Since(started).Round(time.Millisecond))
	archive := filepath.Join(dir, "images.tar")
	started = time.Now()
	if err := built.WriteArchive(archive); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(archive); err == nil {
		t.Logf("wrote %s (%.1f MB) in %s", archive, float64(info.Size())/1e6, time.Since(started).Round(time.Millisecond))
	}

	ctr := startContainerd(t, dir)
	for _, imp := range ctrImports {
		t.Run(imp.name, func(t *testing.T) {
			removeAllImages(t, ctx, ctr)
			cmd := ctr(ctx, imp.args(archive)...)
			if imp.stdin {
				file, err := os.Open(archive)
				if err != nil {
					t.Fatal(err)
				}
				defer file.Close()
				cmd.Stdin = file
			}
			started := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, out)
			}
			t.Logf("imported in %s", time.Since(started).Round(time.Millisecond))

			out, err := ctr(ctx, "images", "ls").Output()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("ctr images ls:\n%s", out)
			listed := listedDigests(out)
			for _, image := range built.All() {
				ref := image.Ref.String()
				if got := listed[ref]; got != image.Digest.String() {
					t.Errorf("ctr images ls: %s has digest %q, want %s\n%s", ref, got, image.Digest, out)
				}
			}
		})
	}
}

// removeAllImages leaves the daemon with no image, so that what an import
// is checked for was imported by it.
func removeAllImages(t *testing.T, ctx context.Context, ctr func(context.Context, ...string) *exec.Cmd) {
	t.Helper()
	refs, err := ctr(ctx, "images", "ls", "--quiet").Output()
	if err != nil {
		t.Fatal(err)
	}
	if names := strings.Fields(string(refs)); len(names) > 0 {
		if out, err := ctr(ctx, append([]string{"images", "rm", "--sync"}, names...)...).CombinedOutput(); err != nil {
			t.Fatalf("ctr images rm: %v\n%s", err, out)
		}
	}
}

// listedDigests reads `ctr images ls`: REF TYPE DIGEST SIZE PLATFORMS LABELS.
func listedDigests(ls []byte) map[string]string {
	digests := map[string]string{}
	scanner := bufio.NewScanner(bytes.NewReader(ls))
	for scanner.Scan() {
		if fields := strings.Fields(scanner.Text()); len(fields) >= 3 && fields[0] != "REF" {
			digests[fields[0]] = fields[2]
		}
	}
	return digests
}

// containerdConfig keeps everything of the daemon under dir and turns off
// what an import does not need (CRI, /opt/containerd, other snapshotters).
const containerdConfig = `version = 2
root = %[1]q
state = %[2]q
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.internal.v1.opt",
  "io.containerd.runtime.v1.linux",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = %[3]q
`

// startContainerd runs a containerd of the test's own, stopped (its whole
// process group) when the test ends, and returns how to run ctr against it
// in the k8s.io namespace.
func startContainerd(t *testing.T, dir string) func(context.Context, ...string) *exec.Cmd {
	t.Helper()
	socket := filepath.Join(dir, "containerd.sock")
	config := filepath.Join(dir, "containerd.toml")
	content := fmt.Sprintf(containerdConfig, filepath.Join(dir, "root"), filepath.Join(dir, "state"), socket)
	if err := os.WriteFile(config, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	daemon := exec.Command("containerd", "--config", config)
	daemon.Stdout, daemon.Stderr = &log, &log
	daemon.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = daemon.Wait(); close(exited) }()
	t.Cleanup(func() {
		stopGroup(daemon.Process.Pid, exited)
		if t.Failed() {
			t.Logf("containerd's log:\n%s", log.String())
		}
	})

	ctr := func(ctx context.Context, args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, "ctr", append([]string{"--address", socket, "--namespace", "k8s.io"}, args...)...)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := ctr(context.Background(), "version").Run(); err == nil {
			return ctr
		}
		select {
		case <-exited:
			t.Fatalf("containerd exited at start:\n%s", log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer within 20s:\n%s", log.String())
		}
	}
}

// stopGroup terminates the process group, killing it after 10 s.
func stopGroup(pid int, exited <-chan struct{}) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

func assertNothingMountedUnder(t *testing.T, dir string) {
	t.Helper()
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, dir) {
			t.Errorf("still mounted after containerd stopped: %s", line)
		}
	}
}
