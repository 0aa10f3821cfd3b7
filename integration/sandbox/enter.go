package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// privateDirs are host directories the node's components write below
// without a setting to move them: kubelet's device-plugin socket directory
// and pod logs, the CNI plugins' state, containerd's shim sockets and pod
// network namespaces. Inside the sandbox each is an empty directory of its
// own.
var privateDirs = []string{"/run", "/var/lib", "/var/log"}

// kernelTunables are the host-wide sysctls kubelet sets at start
// (pkg/kubelet/cm: setupKernelTunables). Inside the sandbox each is a
// regular file holding the host's value, so kubelet's writes stay there.
var kernelTunables = []string{
	"vm/overcommit_memory",
	"vm/panic_on_oom",
	"kernel/panic",
	"kernel/panic_on_oops",
	"kernel/keys/root_maxkeys",
	"kernel/keys/root_maxbytes",
}

// enter sets up the sandbox from inside its fresh namespaces, before any
// test runs: the cgroup, the mounts, and the loopback link.
func enter(cgroupPath, dir string) error {
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	if err := (&Cgroup{path: cgroupPath, mounts: mounts}).join(); err != nil {
		return err
	}
	// Nothing mounted from here on propagates back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make the mounts private: %w", err)
	}
	// A /proc of the new PID namespace, so processes see their own.
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	for _, target := range privateDirs {
		source := filepath.Join(dir, strings.ReplaceAll(strings.Trim(target, "/"), "/", "-"))
		if err := bindMount(source, target, os.MkdirAll(source, 0o755)); err != nil {
			return err
		}
	}
	for _, name := range kernelTunables {
		target := filepath.Join("/proc/sys", name)
		value, err := os.ReadFile(target)
		if err != nil {
			return err
		}
		source := filepath.Join(dir, "sysctl", strings.ReplaceAll(name, "/", "."))
		if err := bindMount(source, target, writeFile(source, value)); err != nil {
			return err
		}
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring up the loopback link: %w", err)
	}
	return nil
}

// bindMount mounts source on target once source is prepared (prepared is
// the error of preparing it).
func bindMount(source, target string, prepared error) error {
	if prepared != nil {
		return prepared
	}
	if err := unix.Mount(source, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", source, target, err)
	}
	return nil
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
