package sandbox

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/sys/mountinfo"
)

// hostSnapshot is what the tests' node could change on the host, one
// sorted list of lines per kind of thing.
type hostSnapshot map[string][]string

// watchedSysctls are host-wide settings the node's components write
// (kubelet's kernel tunables, kube-proxy's conntrack table) and settings of
// the host's network namespace they would write if they ran there.
var watchedSysctls = append(slices.Clone(kernelTunables),
	"net/netfilter/nf_conntrack_max",
	"net/ipv4/ip_forward",
	"net/ipv4/conf/all/route_localnet",
	"net/bridge/bridge-nf-call-iptables",
)

// nodeCommands are the names of the programs a node runs.
var nodeCommands = []string{
	"etcd", "kube-apiserver", "kube-controller", "kube-scheduler", "kubelet", "kube-proxy",
	"kube-router", "coredns", "containerd", "containerd-shim", "containerd-shim-runc-v2", "runc", "pause",
}

func snapshotHost() (hostSnapshot, error) {
	s := hostSnapshot{}
	for kind, read := range map[string]func() ([]string, error){
		"link":     links,
		"route":    routes,
		"iptables": iptablesRules,
		"mount":    mounts,
		"cgroup":   topCgroups,
		"sysctl":   sysctls,
		"netns":    namedNetworkNamespaces,
		"process":  nodeProcesses,
	} {
		lines, err := read()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
		slices.Sort(lines)
		s[kind] = lines
	}
	return s, nil
}

// diff describes what after has that s has not, and the other way round;
// "" when they are the same.
func (s hostSnapshot) diff(after hostSnapshot) string {
	var b strings.Builder
	kinds := make([]string, 0, len(s))
	for kind := range s {
		kinds = append(kinds, kind)
	}
	slices.Sort(kinds)
	for _, kind := range kinds {
		for _, line := range after[kind] {
			if !slices.Contains(s[kind], line) {
				fmt.Fprintf(&b, "  %s added:   %s\n", kind, line)
			}
		}
		for _, line := range s[kind] {
			if !slices.Contains(after[kind], line) {
				fmt.Fprintf(&b, "  %s removed: %s\n", kind, line)
			}
		}
	}
	return b.String()
}

func links() ([]string, error) {
	interfaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, i := range interfaces {
		addrs, err := i.Addrs()
		if err != nil {
			return nil, err
		}
		lines = append(lines, fmt.Sprintf("%s %s %v", i.Name, i.Flags, addrs))
	}
	return lines, nil
}

func routes() ([]string, error) {
	var lines []string
	for _, table := range []string{"/proc/net/route", "/proc/net/ipv6_route"} {
		data, err := os.ReadFile(table)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		lines = append(lines, nonEmptyLines(data)...)
	}
	return lines, nil
}

// chainCounters are the packet and byte counts iptables-save prints after
// each chain: they change with traffic, not with rules.
var chainCounters = regexp.MustCompile(` \[\d+:\d+\]$`)

func iptablesRules() ([]string, error) {
	var lines []string
	for _, command := range []string{"iptables-save", "ip6tables-save"} {
		if _, err := exec.LookPath(command); err != nil {
			continue // not installed: nothing can have added rules with it
		}
		out, err := exec.Command(command).Output()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", command, err)
		}
		for _, line := range nonEmptyLines(out) {
			if !strings.HasPrefix(line, "#") {
				lines = append(lines, command+": "+chainCounters.ReplaceAllString(line, ""))
			}
		}
	}
	return lines, nil
}

func mounts() ([]string, error) {
	infos, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, m := range infos {
		lines = append(lines, fmt.Sprintf("%s %s %s", m.Mountpoint, m.FSType, m.Source))
	}
	return lines, nil
}

// topCgroups are the cgroups at the top of each hierarchy, where kubelet
// and container runtimes put theirs when left to their defaults. The
// cgroups of sandboxes still running beside this one are not listed.
func topCgroups() ([]string, error) {
	hierarchies, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, h := range hierarchies {
		entries, err := os.ReadDir(h)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() && !ofAnotherSandbox(e.Name()) {
				lines = append(lines, filepath.Join(h, e.Name()))
			}
		}
	}
	return lines, nil
}

// ofAnotherSandbox reports whether a cgroup name is the cgroup of a sandbox
// whose supervisor is another process that is still alive.
func ofAnotherSandbox(name string) bool {
	pid, err := strconv.Atoi(strings.TrimPrefix(name, "tinjis-sandbox-"))
	if err != nil || !strings.HasPrefix(name, "tinjis-sandbox-") || pid == os.Getpid() {
		return false
	}
	return syscall.Kill(pid, 0) == nil
}

func sysctls() ([]string, error) {
	var lines []string
	for _, name := range watchedSysctls {
		value, err := os.ReadFile(filepath.Join("/proc/sys", name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		lines = append(lines, name+" = "+string(bytes.TrimSpace(value)))
	}
	return lines, nil
}

func namedNetworkNamespaces() ([]string, error) {
	entries, err := os.ReadDir("/run/netns")
	if os.IsNotExist(err) {
		return nil, nil
	}
	var lines []string
	for _, e := range entries {
		lines = append(lines, e.Name())
	}
	return lines, err
}

// nodeProcesses are the processes running a node's programs outside any
// sandbox still running.
func nodeProcesses() ([]string, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || !slices.Contains(nodeCommands, strings.TrimSpace(string(comm))) {
			continue
		}
		cgroups, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if inAnotherSandbox(string(cgroups)) {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s (pid %d)", strings.TrimSpace(string(comm)), pid))
	}
	return lines, nil
}

// sandboxCgroup finds "/tinjis-sandbox-<pid>" in a /proc/<pid>/cgroup file.
var sandboxCgroup = regexp.MustCompile(`:/(tinjis-sandbox-\d+)`)

func inAnotherSandbox(procCgroup string) bool {
	m := sandboxCgroup.FindStringSubmatch(procCgroup)
	return m != nil && ofAnotherSandbox(m[1])
}

func nonEmptyLines(data []byte) []string {
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}
