package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	componentbaseconfig "k8s.io/component-base/config/v1alpha1"
	kubeproxyconfig "k8s.io/kube-proxy/config/v1alpha1"
	kubeletconfig "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/tinjis/tinjis/integration/sandbox"
	"github.com/tinjis/tinjis/internal/ociimage"
)

// cniBinDir is where Debian's containernetworking-plugins installs the
// plugins.
const cniBinDir = "/usr/lib/cni"

// node is the one real node: containerd, kubelet, kube-proxy and
// kube-router, with its pods in a cgroup of its own.
type node struct {
	dir     string
	runtime runtimeLayout
	// run is the node's directory in the sandbox's private /run.
	run string
	// pods is kubelet's cgroupRoot; runtime holds containerd and the
	// container shims it starts, which outlive containerd.
	pods, runtimeCgroup *sandbox.Cgroup
}

func newNode(dir string) (*node, error) {
	run, err := os.MkdirTemp("/run", "tinjis-node-")
	if err != nil {
		return nil, err
	}
	n := &node{dir: dir, run: run, runtime: newRuntimeLayout(dir, run)}
	name := filepath.Base(run)
	if n.pods, err = sandbox.NewCgroup(name); err != nil {
		return nil, errors.Join(err, os.RemoveAll(run))
	}
	if n.runtimeCgroup, err = sandbox.NewCgroup(name + "-runtime"); err != nil {
		return nil, errors.Join(err, n.pods.Destroy(), os.RemoveAll(run))
	}
	return n, nil
}

// startRuntime starts containerd in the node's runtime cgroup and imports
// the images from archive.
func (cp *ControlPlane) startRuntime(ctx context.Context, l layout, n *node, b binaries, archive string, images []ociimage.Image) error {
	if err := writeContainerdConfig(n.runtime, pauseImage, cniBinDir); err != nil {
		return err
	}
	if err := writeCNIConfig(n.runtime); err != nil {
		return err
	}
	containerd, err := cp.start(l, "containerd", b.containerd, []string{"--config", n.runtime.config, "--log-level", "warn"})
	if err != nil {
		return err
	}
	if err := n.runtimeCgroup.Add(containerd.cmd.Process.Pid); err != nil {
		return err
	}
	if err := waitFor(ctx, containerd, "containerd to serve", func(ctx context.Context) (bool, error) {
		return true, ctr(ctx, n.runtime, "version")
	}); err != nil {
		return err
	}
	if err := importImage(ctx, n.runtime, archive); err != nil {
		return err
	}
	return nameByDigest(ctx, n.runtime, images)
}

// kubeletConfig is a kubelet for this sandbox: cgroup v1 with the cgroupfs
// driver, no swap check, its own resolver file so the host's never reaches
// a pod, and nothing that evicts or garbage-collects pods or images while
// tests run.
func (n *node) kubeletConfig(certs nodeCerts, caFile, resolvConf string) *kubeletconfig.KubeletConfiguration {
	return &kubeletconfig.KubeletConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: kubeletconfig.SchemeGroupVersion.String(), Kind: "KubeletConfiguration"},
		Address:  NodeIP,
		Authentication: kubeletconfig.KubeletAuthentication{
			X509:      kubeletconfig.KubeletX509Authentication{ClientCAFile: caFile},
			Webhook:   kubeletconfig.KubeletWebhookAuthentication{Enabled: ptr.To(true)},
			Anonymous: kubeletconfig.KubeletAnonymousAuthentication{Enabled: ptr.To(false)},
		},
		Authorization:               kubeletconfig.KubeletAuthorization{Mode: kubeletconfig.KubeletAuthorizationModeWebhook},
		TLSCertFile:                 certs.servingCert,
		TLSPrivateKeyFile:           certs.servingKey,
		ReadOnlyPort:                0,
		HealthzBindAddress:          "127.0.0.1",
		HealthzPort:                 ptr.To[int32](kubeletHealthzPort),
		ContainerRuntimeEndpoint:    "unix://" + n.runtime.socket,
		CgroupDriver:                "cgroupfs",
		CgroupRoot:                  n.pods.Path(),
		CgroupsPerQOS:               ptr.To(true),
		FailCgroupV1:                ptr.To(false),
		FailSwapOn:                  ptr.To(false),
		ClusterDNS:                  []string{ClusterDNSIP},
		ClusterDomain:               ClusterDomain,
		ResolverConfig:              ptr.To(resolvConf),
		EvictionHard:                map[string]string{"memory.available": "1%", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
		ImageGCHighThresholdPercent: ptr.To[int32](100),
		ImageGCLowThresholdPercent:  ptr.To[int32](99),
		SerializeImagePulls:         ptr.To(false),
		RotateCertificates:          false,
		ServerTLSBootstrap:          false,
		// Pods go quickly: tests delete and replace them all the time.
		ShutdownGracePeriod:       metav1.Duration{},
		NodeStatusUpdateFrequency: metav1.Duration{Duration: 2 * time.Second},
	}
}

const (
	kubeletHealthzPort   = 10248
	kubeProxyHealthzPort = 10256
	kubeProxyMetricsPort = 10249
	kubeRouterHealthPort = 20244
)

func kubeProxyConfig(kubeconfig string) *kubeproxyconfig.KubeProxyConfiguration {
	return &kubeproxyconfig.KubeProxyConfiguration{
		TypeMeta:           metav1.TypeMeta{APIVersion: kubeproxyconfig.SchemeGroupVersion.String(), Kind: "KubeProxyConfiguration"},
		ClientConnection:   componentbaseconfig.ClientConnectionConfiguration{Kubeconfig: kubeconfig},
		HostnameOverride:   NodeName,
		BindAddress:        NodeIP,
		HealthzBindAddress: "127.0.0.1:" + strconv.Itoa(kubeProxyHealthzPort),
		MetricsBindAddress: "127.0.0.1:" + strconv.Itoa(kubeProxyMetricsPort),
		Mode:               "iptables",
		ClusterCIDR:        PodCIDR,
		// Zero leaves the host-wide conntrack table size and timeouts alone.
		Conntrack: kubeproxyconfig.KubeProxyConntrackConfiguration{
			MaxPerCore:            ptr.To[int32](0),
			Min:                   ptr.To[int32](0),
			TCPEstablishedTimeout: &metav1.Duration{},
			TCPCloseWaitTimeout:   &metav1.Duration{},
		},
	}
}

// kubeRouterArgs run kube-router as a NetworkPolicy enforcer only: routing,
// the Service proxy and CNI are kube-proxy's and the bridge plugin's.
func kubeRouterArgs(kubeconfig string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--hostname-override=" + NodeName,
		"--run-firewall=true",
		"--run-router=false",
		"--run-service-proxy=false",
		"--enable-cni=false",
		"--enable-ipv4=true",
		"--enable-ipv6=false",
		"--service-cluster-ip-range=" + ServiceClusterIPRange,
		"--health-port=" + strconv.Itoa(kubeRouterHealthPort),
		"--metrics-port=0",
		"--iptables-sync-period=5m",
		"--ipvs-sync-period=5m",
		"--v=1",
	}
}

// writeYAML writes a component's configuration.
func writeYAML(path string, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// cleanUp undoes what the node left in the sandbox once its components
// stopped: the containers and shims, the mounts of pods and images, the
// links and netfilter rules, and the cgroups.
func (n *node) cleanUp(ctx context.Context) error {
	var errs []error
	n.pods.Kill()
	n.runtimeCgroup.Kill()
	errs = append(errs, unmountBelow(n.dir, n.run, "/run/netns"))
	errs = append(errs, n.pods.Destroy(), n.runtimeCgroup.Destroy())
	errs = append(errs, tearDownNodeNetwork(ctx))
	errs = append(errs, os.RemoveAll(n.run))
	return errors.Join(errs...)
}

// unmountBelow detaches every mount below the directories, the deepest
// first: pod volumes, image snapshots, pod network namespaces.
func unmountBelow(dirs ...string) error {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		for _, dir := range dirs {
			if m.Mountpoint == dir || strings.HasPrefix(m.Mountpoint, dir+"/") {
				return false, false
			}
		}
		return true, false
	})
	if err != nil {
		return err
	}
	slices.SortFunc(mounts, func(a, b *mountinfo.Info) int { return len(b.Mountpoint) - len(a.Mountpoint) })
	var errs []error
	for _, m := range mounts {
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m.Mountpoint, err))
		}
	}
	return errors.Join(errs...)
}

// nodeCerts are kubelet's serving certificate and its kubeconfig, which
// authenticates it as the node to the Node authorizer.
type nodeCerts struct {
	servingCert, servingKey, kubeconfig string
}

func (cp *ControlPlane) startKubelet(l layout, certs clusterCerts, b binaries) (*process, error) {
	n := cp.node
	serving, err := cp.ca.servingCert([]net.IP{net.ParseIP(NodeIP)}, NodeName)
	if err != nil {
		return nil, err
	}
	var nc nodeCerts
	if nc.servingCert, nc.servingKey, err = serving.write(l.pki, "kubelet"); err != nil {
		return nil, err
	}
	if nc.kubeconfig, err = cp.AddUser("system:node:"+NodeName, "system:nodes"); err != nil {
		return nil, err
	}
	resolvConf := filepath.Join(n.dir, "resolv.conf")
	if err := os.WriteFile(resolvConf, []byte("# The sandbox has no resolver but the cluster DNS.\n"), 0o644); err != nil {
		return nil, err
	}
	config := filepath.Join(n.dir, "kubelet.yaml")
	if err := writeYAML(config, n.kubeletConfig(nc, certs.caFile, resolvConf)); err != nil {
		return nil, err
	}
	return cp.start(l, "kubelet", b.kubelet, []string{
		"--config=" + config,
		"--kubeconfig=" + nc.kubeconfig,
		"--hostname-override=" + NodeName,
		"--node-ip=" + NodeIP,
		"--root-dir=" + filepath.Join(n.dir, "kubelet"),
		"--v=1",
	})
}

// startNodeNetworking starts kube-proxy and kube-router and waits until
// both serve their health checks.
func (cp *ControlPlane) startNodeNetworking(ctx context.Context, l layout, b binaries) error {
	proxyKubeconfig, err := cp.AddUser("system:kube-proxy")
	if err != nil {
		return err
	}
	proxyConfig := filepath.Join(cp.node.dir, "kube-proxy.yaml")
	if err := writeYAML(proxyConfig, kubeProxyConfig(proxyKubeconfig)); err != nil {
		return err
	}
	proxy, err := cp.start(l, "kube-proxy", b.kubeProxy, []string{"--config=" + proxyConfig, "--v=1"})
	if err != nil {
		return err
	}
	// Test use only: it reads pods, namespaces and policies everywhere.
	routerKubeconfig, err := cp.AddUser("kube-router", "system:masters")
	if err != nil {
		return err
	}
	router, err := cp.start(l, "kube-router", b.kubeRouter, kubeRouterArgs(routerKubeconfig))
	if err != nil {
		return err
	}
	if err := waitHealthy(ctx, proxy, fmt.Sprintf("http://127.0.0.1:%d/healthz", kubeProxyHealthzPort), nil); err != nil {
		return err
	}
	return waitHealthy(ctx, router, fmt.Sprintf("http://127.0.0.1:%d/healthz", kubeRouterHealthPort), nil)
}
