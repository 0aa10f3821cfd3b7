package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
	"k8s.io/apimachinery/pkg/util/wait"
)

// cgroupRemoveTimeout bounds how long the processes of a cgroup get to die
// before its removal is given up.
const cgroupRemoveTimeout = 30 * time.Second

// Cgroup is one cgroup path, present in every mounted hierarchy (cgroup v1
// mounts one per controller; v2 one for all), as kubelet's cgroupfs driver
// and runc expect.

type Cgroup struct {
	// path is the cgroup's path from the root of each hierarchy.
	path string
	// mounts are where the hierarchies are mounted.
	mounts []string
	// created are the paths this cgroup had to create, the deepest last.
	created []string
}

// Path is the cgroup's path from the hierarchies' root, as kubelet's
// cgroupRoot takes it.
func (c *Cgroup) Path() string { return c.path }

// NewCgroup creates a cgroup for one part of the sandbox (a node's pods, its
// container runtime) below the sandbox's own cgroup.
func NewCgroup(name string) (*Cgroup, error) {
	parent := os.Getenv(envCgroup)
	if parent == "" {
		return nil, errors.New("cgroups are created only inside a sandbox")
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	return makeCgroup(path.Join(parent, name), mounts)
}

// createCgroup creates the sandbox's cgroup at the top of every hierarchy.
func createCgroup(name string) (*Cgroup, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	return makeCgroup("/"+name, mounts)
}

func makeCgroup(cgroupPath string, mounts []string) (*Cgroup, error) {
	c := &Cgroup{path: cgroupPath, mounts: mounts}
	for _, mount := range mounts {
		// Create each missing level, remembering it for removal.
		dir := mount
		for _, part := range strings.Split(strings.Trim(cgroupPath, "/"), "/") {
			dir = filepath.Join(dir, part)
			err := os.Mkdir(dir, 0o755)
			if err == nil {
				c.created = append(c.created, dir)
				err = inheritCpuset(dir)
			}
			if err != nil && !errors.Is(err, fs.ErrExist) {
				_ = c.destroy()
				return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
			}
		}
	}
	return c, nil
}

// inheritCpuset gives a new cgroup v1 cpuset its parent's CPUs and memory
// nodes: a cpuset without them refuses processes (ENOSPC).
func inheritCpuset(dir string) error {
	for _, name := range []string{"cpuset.cpus", "cpuset.mems"} {
		value, err := os.ReadFile(filepath.Join(filepath.Dir(dir), name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil // not a cpuset hierarchy
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), value, 0); err != nil {
			return fmt.Errorf("set %s of cgroup %s: %w", name, dir, err)
		}
	}
	return nil
}

// join moves the calling process into the cgroup in every hierarchy.
func (c *Cgroup) join() error {
	return c.Add(0)
}

// Add moves process pid (0: the caller) into the cgroup in every hierarchy.
// Its children started afterwards are born there.
func (c *Cgroup) Add(pid int) error {
	for _, mount := range c.mounts {
		procs := filepath.Join(mount, c.path, "cgroup.procs")
		if err := os.WriteFile(procs, []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("move process %d into %s: %w", pid, procs, err)
		}
	}
	return nil
}

// Destroy kills every process left in the cgroup and below it, then removes
// the cgroups, the deepest first.
func (c *Cgroup) Destroy() error { return c.destroy() }

func (c *Cgroup) destroy() error {
	ctx, cancel := context.WithTimeout(context.Background(), cgroupRemoveTimeout)
	defer cancel()
	var remaining []string
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
		remaining = nil
		for _, mount := range c.mounts {
			dirs, err := subtree(filepath.Join(mount, c.path))
			if err != nil {
				return false, err
			}
			for _, dir := range slices.Backward(dirs) {
				killAll(dir)
				if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
					remaining = append(remaining, dir)
				}
			}
		}
		return len(remaining) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("remove cgroups %v: %w", remaining, err)
	}
	// Levels above the cgroup that it had to create.
	for _, dir := range slices.Backward(c.created) {
		if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
	}
	return nil
}

// subtree lists dir and every cgroup below it, parents before children.
func subtree(dir string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	return dirs, err
}

// killAll sends SIGKILL to every process of the cgroup dir.
func killAll(dir string) {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, field := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(field); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Kill sends SIGKILL to every process in the cgroup and below it, without
// removing anything.
func (c *Cgroup) Kill() {
	for _, mount := range c.mounts {
		dirs, _ := subtree(filepath.Join(mount, c.path))
		for _, dir := range dirs {
			killAll(dir)
		}
	}
}

// peakMemory is the most memory the cgroup's processes used at once, as
// the memory controller recorded it (cgroup v1 or v2).
func (c *Cgroup) peakMemory() (int64, error) {
	for _, mount := range c.mounts {
		for _, file := range []string{"memory.max_usage_in_bytes", "memory.peak"} {
			data, err := os.ReadFile(filepath.Join(mount, c.path, file))
			if err == nil {
				return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
			}
		}
	}
	return 0, errors.New("no memory controller records the cgroup's peak")
}

// cgroupMounts lists where the cgroup hierarchies are mounted.
func cgroupMounts() ([]string, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, m := range mounts {
		dirs = append(dirs, m.Mountpoint)
	}
	if len(dirs) == 0 {
		return nil, errors.New("no cgroup hierarchy is mounted")
	}
	return dirs, nil
}
