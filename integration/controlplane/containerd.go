package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"
)

// containerdNamespace is the containerd namespace the CRI plugin, and so
// kubelet, sees images and containers in.
const containerdNamespace = "k8s.io"

// runtimeLayout is where the container runtime keeps its state: files in
// dir, sockets and runtime state in run (a socket path must stay short).
type runtimeLayout struct {
	root, state, runcRoot, cniConfig, cniState, config, socket string
}

func newRuntimeLayout(dir, run string) runtimeLayout {
	return runtimeLayout{
		root:      filepath.Join(dir, "containerd"),
		state:     filepath.Join(run, "containerd"),
		runcRoot:  filepath.Join(run, "runc"),
		cniConfig: filepath.Join(dir, "cni", "net.d"),
		cniState:  filepath.Join(dir, "cni", "state"),
		config:    filepath.Join(dir, "containerd.toml"),
		socket:    filepath.Join(run, "containerd.sock"),
	}
}

// writeContainerdConfig writes a containerd 1.6 configuration that keeps
// everything below the layout and pulls nothing: every image, the pause
// image included, is imported beforehand.
func writeContainerdConfig(l runtimeLayout, pauseImage, cniBinDir string) error {
	cri := map[string]any{
		"sandbox_image": pauseImage,
		// Nothing can be pulled; the kernel here has no AppArmor profile
		// loaded for containers.
		"disable_apparmor": true,
		// This machine's capability set lacks CAP_SYS_RESOURCE: runc must not
		// lower a container's oom_score_adj below its own.
		"restrict_oom_score_adj": true,
		"stream_server_address":  "127.0.0.1",
		"stream_server_port":     "0",
		"containerd": map[string]any{
			"snapshotter":          "overlayfs",
			"default_runtime_name": "runc",
			"runtimes": map[string]any{
				"runc": map[string]any{
					"runtime_type": "io.containerd.runc.v2",
					"options":      map[string]any{"SystemdCgroup": false, "Root": l.runcRoot},
				},
			},
		},
		"cni": map[string]any{"bin_dir": cniBinDir, "conf_dir": l.cniConfig, "max_conf_num": 1},
	}
	config := map[string]any{
		"version": 2,
		"root":    l.root,
		"state":   l.state,
		// The opt plugin installs into /opt/containerd; the others need
		// what this machine lacks.
		"disabled_plugins": []string{
			"io.containerd.internal.v1.opt",
			"io.containerd.snapshotter.v1.aufs",
			"io.containerd.snapshotter.v1.btrfs",
			"io.containerd.snapshotter.v1.devmapper",
			"io.containerd.snapshotter.v1.zfs",
			"io.containerd.tracing.processor.v1.otlp",
		},
		"grpc":    map[string]any{"address": l.socket},
		"ttrpc":   map[string]any{"address": l.socket + ".ttrpc"},
		"metrics": map[string]any{"address": ""},
		"plugins": map[string]any{"io.containerd.grpc.v1.cri": cri},
	}
	for _, dir := range []string{l.root, l.state, l.runcRoot, l.cniConfig, l.cniState} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	f, err := os.Create(l.config)
	if err != nil {
		return err
	}
	defer f.Close()
	return toml.NewEncoder(f).Encode(config)
}

// writeCNIConfig connects pods to one bridge, with addresses from the
// node's pod range and the bridge as their gateway. No masquerading: no
// packet leaves the sandbox.
func writeCNIConfig(l runtimeLayout) error {
	config := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "tinjis-pods",
		"plugins": []map[string]any{
			{
				"type":        "bridge",
				"bridge":      podBridge,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": PodCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": l.cniState,
				},
			},
			{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	data, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(l.cniConfig, "10-tinjis-pods.conflist"), data, 0o600)
}

// ctr runs containerd's client against the node's containerd.
func ctr(ctx context.Context, l runtimeLayout, args ...string) error {
	return runCommand(ctx, "ctr", append([]string{"--address", l.socket, "--namespace", containerdNamespace}, args...)...)
}

// importImage imports an OCI or Docker image archive into the node.
func importImage(ctx context.Context, l runtimeLayout, archive string) error {
	if err := ctr(ctx, l, "images", "import", "--all-platforms", archive); err != nil {
		return fmt.Errorf("import image %s: %w", archive, err)
	}
	return nil
}
