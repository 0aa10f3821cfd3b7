package sandbox_test

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tinjis/tinjis/integration/sandbox"
)

func TestMain(m *testing.M) { sandbox.Main(m) }

// The supervisor compares the host before and after this binary: each case
// changes something that, outside a sandbox, would change the host.
func TestTheSandboxKeepsWhatTheTestsDoOffTheHost(t *testing.T) {
	sandbox.Require(t)

	t.Run("its network has only a loopback link that is up, and no route out", func(t *testing.T) {
		interfaces, err := net.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		if len(interfaces) != 1 || interfaces[0].Name != "lo" || interfaces[0].Flags&net.FlagUp == 0 {
			t.Errorf("links in the sandbox: %v, want only lo, up", interfaces)
		}
		routes, err := os.ReadFile("/proc/net/route")
		if err != nil {
			t.Fatal(err)
		}
		if lines := strings.Count(strings.TrimSpace(string(routes)), "\n"); lines != 0 {
			t.Errorf("the sandbox has %d IPv4 routes:\n%s", lines, routes)
		}
	})

	t.Run("kubelet's kernel tunables can be written without reaching the host", func(t *testing.T) {
		const tunable = "/proc/sys/kernel/panic"
		if err := os.WriteFile(tunable, []byte("10"), 0); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(tunable); strings.TrimSpace(string(got)) != "10" {
			t.Errorf("%s reads %q after writing 10", tunable, got)
		}
	})

	t.Run("/run, /var/lib and /var/log are its own", func(t *testing.T) {
		for _, dir := range []string{"/run", "/var/lib", "/var/log"} {
			marker := filepath.Join(dir, "tinjis-sandbox-test")
			if err := os.WriteFile(marker, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat("/var/lib/dpkg"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the host's /var/lib/dpkg is visible in the sandbox (%v)", err)
			}
		}
	})

	t.Run("a cgroup's processes die and its directories go when it is destroyed", func(t *testing.T) {
		cgroup, err := sandbox.NewCgroup("sleeper")
		if err != nil {
			t.Fatal(err)
		}
		sleeper := exec.Command("sleep", "600")
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
		if err := cgroup.Add(sleeper.Process.Pid); err != nil {
			t.Fatal(err)
		}
		if err := cgroup.Destroy(); err != nil {
			t.Fatal(err)
		}
		err = sleeper.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("the process in the cgroup ended with %v, want killed", err)
		}
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/pids", cgroup.Path())); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s is still there (%v)", cgroup.Path(), err)
		}
	})

}
