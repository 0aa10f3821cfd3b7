package controlplane

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// Memory is what a container's memory cgroup reports, in bytes.
type Memory struct {
	// WorkingSet is the memory in use now less the file pages the kernel
	// may reclaim first (inactive_file), as kubelet counts it for eviction
	// and `kubectl top`.
	WorkingSet uint64
	// PeakUsage is the most the cgroup ever used, file pages included
	// (memory.max_usage_in_bytes, or memory.peak under cgroup v2): it bounds
	// the working set's peak from above.
	PeakUsage uint64
}

// MemoryCgroup is the directory of a container's memory cgroup, found
// through one of its processes; containerID is a pod status's containerID.
func MemoryCgroup(containerID string) (string, error) {
	pids, err := containerProcesses(containerID)
	if err != nil {
		return "", err
	}
	membership, err := os.ReadFile(filepath.Join("/proc", pids[0], "cgroup"))
	if err != nil {
		return "", err
	}
	// Lines are id:controllers:path; v1's memory hierarchy names its
	// controller, v2's single hierarchy has id 0 and none.
	var v1, v2 string
	for line := range strings.Lines(string(membership)) {
		fields := strings.SplitN(strings.TrimSpace(line), ":", 3)
		switch {
		case len(fields) != 3:
		case strings.Contains(","+fields[1]+",", ",memory,"):
			v1 = fields[2]
		case fields[0] == "0" && fields[1] == "":
			v2 = fields[2]
		}
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return "", err
	}
	for _, m := range mounts {
		path := v2
		if m.FSType == "cgroup" {
			if !strings.Contains(","+m.VFSOptions+",", ",memory,") {
				continue
			}
			path = v1
		}
		if rel, err := filepath.Rel(m.Root, path); path != "" && err == nil && !strings.HasPrefix(rel, "..") {
			dir := filepath.Join(m.Mountpoint, rel)
			if _, err := os.Stat(dir); err == nil {
				return dir, nil
			}
		}
	}
	return "", fmt.Errorf("no mounted memory cgroup holds container %s", containerID)
}

// ReadMemory reads the memory cgroup at dir, v1 or v2.
func ReadMemory(dir string) (Memory, error) {
	usage, err := readCount(dir, "memory.usage_in_bytes", "memory.current")
	if err != nil {
		return Memory{}, err
	}
	peak, err := readCount(dir, "memory.max_usage_in_bytes", "memory.peak")
	if err != nil {
		return Memory{}, err
	}
	inactive, err := memoryStat(dir, "total_inactive_file", "inactive_file")
	if err != nil {
		return Memory{}, err
	}
	m := Memory{PeakUsage: peak}
	if usage > inactive {
		m.WorkingSet = usage - inactive
	}
	return m, nil
}

// readCount reads the first of files that exists in dir: one number.
func readCount(dir string, files ...string) (uint64, error) {
	for _, name := range files {
		text, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		return strconv.ParseUint(strings.TrimSpace(string(text)), 10, 64)
	}
	return 0, fmt.Errorf("%s has none of %v", dir, files)
}

// memoryStat reads the first of keys found in dir's memory.stat.
func memoryStat(dir string, keys ...string) (uint64, error) {
	f, err := os.Open(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	values := map[string]string{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if key, value, ok := strings.Cut(scanner.Text(), " "); ok {
			values[key] = value
		}
	}
	if err := scanner.Err(); err != nil {
		return 0, err
	}
	for _, key := range keys {
		if value, ok := values[key]; ok {
			return strconv.ParseUint(value, 10, 64)
		}
	}
	return 0, fmt.Errorf("%s/memory.stat has none of %v", dir, keys)
}
