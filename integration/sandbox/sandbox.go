// Package sandbox runs a test binary inside Linux namespaces and a cgroup of
// its own, so that a real node started by the tests (its links, routes,
// iptables rules, mounts, cgroups, sysctls and every process) lives and dies
// with the binary, and the host is left as it was found.
//
// TestMain calls Main. As root, the binary re-executes itself as the first
// process of new network, mount and PID namespaces; the original process
// stays outside as a supervisor: it waits, removes the sandbox's cgroups,
// and compares the host with a snapshot taken before, failing the run on any
// leftover. When the sandbox's first process exits, however it exits (a
// failed test, a panic, a timeout, Ctrl-C), the kernel kills every process
// in its PID namespace, and its network and mount namespaces go with them.
//
// Inside, the sandbox has only a loopback link, no route out of the machine,
// a private /run, /var/lib and /var/log (kubelet and the CNI plugins write
// there), and regular files in place of the kernel tunables kubelet sets.
package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"testing"
)

// Environment passed from the supervisor to the sandboxed process.
const (
	envCgroup = "TINJIS_SANDBOX_CGROUP"
	envDir    = "TINJIS_SANDBOX_DIR"
)

// Main runs the tests, inside a sandbox when the binary may create one, and
// exits with their result.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if cgroup := os.Getenv(envCgroup); cgroup != "" {
		if err := enter(cgroup, os.Getenv(envDir)); err != nil {
			fmt.Fprintf(os.Stderr, "sandbox: cannot set up: %v\n", err)
			return 1
		}
		return m.Run()
	}
	if Unavailable() != "" {
		return m.Run() // tests that need the sandbox skip, or fail under CI
	}
	code, err := supervise()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Unavailable says why this process cannot create a sandbox, or "" when it
// can.
func Unavailable() string {
	switch {
	case runtime.GOOS != "linux":
		return "a real node needs Linux, and this is " + runtime.GOOS
	case os.Geteuid() != 0:
		return "a real node needs root (namespaces, mounts, cgroups, iptables), and the tests run as uid " + fmt.Sprint(os.Geteuid())
	}
	return ""
}

// Inside reports whether this process runs in a sandbox.
func Inside() bool { return os.Getenv(envCgroup) != "" }

// Require skips the test, saying why, unless it runs in a sandbox. Under CI
// (CI=true) it fails instead: there a skipped real-node test hides that
// nothing was proven.
func Require(tb testing.TB) {
	tb.Helper()
	if Inside() {
		return
	}
	reason := Unavailable()
	if reason == "" {
		reason = "the test binary was not started through sandbox.Main (call it from TestMain)"
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s; under CI the real-node tests must run", reason)
	}
	tb.Skip(reason)
}

// supervise runs this binary again inside new namespaces, waits for it,
// cleans up after it and checks the host.
func supervise() (int, error) {
	before, err := snapshotHost()
	if err != nil {
		return 1, fmt.Errorf("snapshot the host: %w", err)
	}
	dir, err := os.MkdirTemp("", "tinjis-sandbox-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	cgroup, err := createCgroup(fmt.Sprintf("tinjis-sandbox-%d", os.Getpid()))
	if err != nil {
		return 1, err
	}

	code, runErr := runSandboxed(cgroup, dir)
	if peak, err := cgroup.peakMemory(); err == nil {
		fmt.Fprintf(os.Stderr, "sandbox: peak memory of the tests and everything they started: %d MiB\n", peak>>20)
	}
	errs := []error{runErr}
	if err := cgroup.destroy(); err != nil {
		errs = append(errs, err)
	}
	after, err := snapshotHost()
	if err != nil {
		errs = append(errs, fmt.Errorf("snapshot the host afterwards: %w", err))
	} else if leftovers := before.diff(after); len(leftovers) > 0 {
		errs = append(errs, fmt.Errorf("the host is not as it was before the tests:\n%s", leftovers))
	}
	return code, errors.Join(errs...)
}

// runSandboxed starts the copy of this binary and returns its exit code.
func runSandboxed(cgroup *Cgroup, dir string) (int, error) {
	// The kernel sends Pdeathsig when the thread that started the child
	// exits, so that thread must live as long as the child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envCgroup+"="+cgroup.path, envDir+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID,
		Pdeathsig:  syscall.SIGKILL,
	}
	// Ctrl-C reaches the whole process group; the supervisor outlives the
	// sandbox to clean up after it.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("start the sandbox: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-signals:
			_ = cmd.Process.Signal(sig)
		case err := <-done:
			var exit *exec.ExitError
			switch {
			case err == nil:
				return 0, nil
			case errors.As(err, &exit) && exit.ExitCode() >= 0:
				return exit.ExitCode(), nil
			default:
				return 1, fmt.Errorf("the sandbox ended: %w", err)
			}
		}
	}
}

// Dir is a directory that lives as long as the sandbox: for what every
// test of the binary shares, such as built images.
func Dir() string { return os.Getenv(envDir) }
