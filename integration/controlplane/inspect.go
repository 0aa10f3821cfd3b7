package controlplane

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"
)

// ContainerUIDs returns the effective user ids of the processes running in
// a container, as the kernel reports them. containerID is a pod status's
// containerID ("containerd://<id>").
func ContainerUIDs(containerID string) ([]int, error) {
	pids, err := containerProcesses(containerID)
	if err != nil {
		return nil, err
	}
	var uids []int
	for _, pid := range pids {
		uid, err := effectiveUID(filepath.Join("/proc", pid, "status"))
		if err != nil {
			continue // the process ended meanwhile
		}
		uids = append(uids, uid)
	}
	if len(uids) == 0 {
		return nil, fmt.Errorf("no process runs in container %s", containerID)
	}
	return uids, nil
}

// containerProcesses returns the pids of the processes running in a
// container: kubelet names each container's cgroup after its id, and the
// sandbox sees every process of its node.
func containerProcesses(containerID string) ([]string, error) {
	_, id, ok := strings.Cut(containerID, "://")
	if !ok || id == "" {
		return nil, fmt.Errorf("container id %q is not runtime://id", containerID)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cgroups, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if err == nil && strings.Contains(string(cgroups), "/"+id+"\n") {
			pids = append(pids, e.Name())
		}
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("no process runs in container %s", id)
	}
	return pids, nil
}

// effectiveUID reads the second field of a /proc/<pid>/status Uid line.
func effectiveUID(status string) (int, error) {
	f, err := os.Open(status)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if fields := strings.Fields(scanner.Text()); len(fields) >= 3 && fields[0] == "Uid:" {
			return strconv.Atoi(fields[2])
		}
	}
	return 0, fmt.Errorf("%s has no Uid line", status)
}

// KubeletProbeMetrics reads the node's kubelet's prober metrics (each
// probe kubelet ran, by result) through the API server, as
// `kubectl get --raw /api/v1/nodes/<node>/proxy/metrics/probes` does.
func KubeletProbeMetrics(ctx context.Context, client kubernetes.Interface) (map[string]*dto.MetricFamily, error) {
	body, err := client.CoreV1().RESTClient().Get().
		AbsPath("/api/v1/nodes", NodeName, "proxy", "metrics", "probes").
		DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("read kubelet's probe metrics: %w", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(strings.NewReader(string(body)))
}
