// Package controlplane runs a real Kubernetes cluster for tests: etcd,
// kube-apiserver (TLS, RBAC and Node authorization, Pod Security and
// ValidatingAdmissionPolicy admission, client-certificate users),
// kube-controller-manager, kube-scheduler, and one real node: containerd
// and runc running the pods, kubelet executing their probes, kube-proxy
// serving Services, CoreDNS answering for the cluster domain, and
// kube-router enforcing NetworkPolicies; and the Gateway API's CRDs.
// Nothing is pulled: the node runs images built on this machine and
// imported into it.
//
// It runs inside the sandbox (package sandbox): the node's links, routes,
// netfilter rules, mounts, cgroups and processes stay there, off the host.
// The binaries are the ones tools/build.sh builds (see the repo package) and
// the container runtime tools/node-packages.sh installs.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tinjis/tinjis/integration/sandbox"
	"github.com/tinjis/tinjis/integration/testimages"
)

const (
	// AdminUser is in system:masters: it may do anything.
	AdminUser = "tinjis-admin"
	// ContextName is the current context in every kubeconfig the control
	// plane writes.
	ContextName = "tinjis-test"

	startTimeout = 2 * time.Minute
	stopTimeout  = time.Minute
)

// ControlPlane is a running cluster. Its methods are safe for concurrent use.
type ControlPlane struct {
	dir       string
	server    string
	ca        *authority
	processes []*process
	node      *node
	images    testimages.Images

	mu          sync.Mutex
	kubeconfigs map[string]string
	stopped     bool
}

// StartForTest starts a cluster whose state lives in t.TempDir(), and stops
// it when the test ends; when the test failed, the tail of every
// component's log is logged first. It needs the sandbox (see
// sandbox.Require): without it the test is skipped, or fails under CI.
func StartForTest(tb testing.TB) *ControlPlane {
	tb.Helper()
	sandbox.Require(tb)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cp, err := Start(ctx, tb.TempDir())
	if err != nil {
		tb.Fatalf("start the cluster: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			var logs strings.Builder
			cp.WriteLogTails(&logs, 40)
			tb.Log(logs.String())
		}
		if err := cp.Stop(); err != nil {
			tb.Errorf("stop the cluster: %v", err)
		}
	})
	return cp
}

// Start starts every component with its state under dir and returns once
// the node is Ready and the cluster DNS answers. On error, whatever was
// started is stopped again.
func Start(ctx context.Context, dir string) (_ *ControlPlane, err error) {
	binaries, err := findBinaries()
	if err != nil {
		return nil, err
	}
	l, err := newLayout(dir)
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{dir: dir, kubeconfigs: map[string]string{}}
	defer func() {
		if err != nil {
			var logs strings.Builder
			cp.WriteLogTails(&logs, 30)
			err = fmt.Errorf("%w\ncomponent logs:\n%s", err, logs.String())
			_ = cp.Stop()
		}
	}()
	// The node first: whatever the network setup leaves, its clean-up removes.
	if cp.node, err = newNode(filepath.Join(dir, "node")); err != nil {
		return nil, err
	}
	if err := setUpNodeNetwork(); err != nil {
		return nil, err
	}
	images, err := nodeImages(ctx, binaries)
	if err != nil {
		return nil, err
	}
	cp.images = images.test
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	etcdClientPort, etcdPeerPort, apiPort, controllerManagerPort, schedulerPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	cp.server = "https://" + net.JoinHostPort(NodeIP, strconv.Itoa(apiPort))

	certs, err := newClusterCerts(l.pki)
	if err != nil {
		return nil, err
	}
	cp.ca = certs.ca

	etcd, err := cp.start(l, "etcd", binaries.etcd, etcdArgs(l.etcdData, etcdClientPort, etcdPeerPort))
	if err != nil {
		return nil, err
	}
	if err := waitHealthy(ctx, etcd, fmt.Sprintf("http://127.0.0.1:%d/health", etcdClientPort), nil); err != nil {
		return nil, err
	}

	apiserver, err := cp.start(l, "kube-apiserver", binaries.apiserver,
		apiserverArgs(certs, etcdClientPort, apiPort, cp.server))
	if err != nil {
		return nil, err
	}
	admin, err := cp.AddUser(AdminUser, "system:masters")
	if err != nil {
		return nil, err
	}
	adminConfig, err := clientcmd.BuildConfigFromFlags("", admin)
	if err != nil {
		return nil, err
	}
	// The container runtime needs no API server: it starts and imports the
	// images while the API server comes up.
	runtimeReady := make(chan error, 1)
	go func() { runtimeReady <- cp.startRuntime(ctx, l, cp.node, binaries, images.archive, images.all) }()
	if err := waitHealthy(ctx, apiserver, cp.server+"/readyz", adminConfig); err != nil {
		return nil, errors.Join(err, <-runtimeReady)
	}
	if err := installGatewayAPI(ctx, apiserver, adminConfig); err != nil {
		return nil, errors.Join(err, <-runtimeReady)
	}

	controllerManagerKubeconfig, err := cp.AddUser("system:kube-controller-manager")
	if err != nil {
		return nil, errors.Join(err, <-runtimeReady)
	}
	controllerManager, err := cp.start(l, "kube-controller-manager", binaries.controllerManager,
		controllerManagerArgs(certs, controllerManagerKubeconfig, controllerManagerPort, l.flexVolumes))
	if err != nil {
		return nil, errors.Join(err, <-runtimeReady)
	}
	schedulerKubeconfig, err := cp.AddUser("system:kube-scheduler")
	if err != nil {
		return nil, errors.Join(err, <-runtimeReady)
	}
	scheduler, err := cp.start(l, "kube-scheduler", binaries.scheduler,
		schedulerArgs(schedulerKubeconfig, schedulerPort))
	if err != nil {
		return nil, errors.Join(err, <-runtimeReady)
	}
	if err := <-runtimeReady; err != nil {
		return nil, err
	}
	kubelet, err := cp.startKubelet(l, certs, binaries)
	if err != nil {
		return nil, err
	}
	for _, c := range []struct {
		p   *process
		url string
	}{
		{controllerManager, fmt.Sprintf("https://127.0.0.1:%d/healthz", controllerManagerPort)},
		{scheduler, fmt.Sprintf("https://127.0.0.1:%d/healthz", schedulerPort)},
	} {
		if err := waitHealthy(ctx, c.p, c.url, &rest.Config{TLSClientConfig: rest.TLSClientConfig{Insecure: true}}); err != nil {
			return nil, err
		}
	}
	client, err := kubernetes.NewForConfig(adminConfig)
	if err != nil {
		return nil, err
	}
	if err := waitForNodeReady(ctx, client, kubelet); err != nil {
		return nil, err
	}
	if err := cp.startNodeNetworking(ctx, l, binaries); err != nil {
		return nil, err
	}
	if err := waitForDefaultServiceAccount(ctx, client, controllerManager); err != nil {
		return nil, err
	}
	if err := deployDNS(ctx, client, dnsImage); err != nil {
		return nil, err
	}
	if err := waitForDeploymentAvailable(ctx, client, kubelet, metav1.NamespaceSystem, dnsName); err != nil {
		return nil, err
	}
	return cp, nil
}

// Server is the API server's URL.
func (cp *ControlPlane) Server() string { return cp.server }

// Dir is where the control plane keeps its state and logs.
func (cp *ControlPlane) Dir() string { return cp.dir }

// AddUser issues a client certificate for name in groups and returns the
// path of a kubeconfig that authenticates as that user. Calling it again for
// the same name returns the same kubeconfig.
func (cp *ControlPlane) AddUser(name string, groups ...string) (string, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if path, ok := cp.kubeconfigs[name]; ok {
		return path, nil
	}
	pair, err := cp.ca.clientCert(name, groups...)
	if err != nil {
		return "", err
	}
	config := clientcmdapi.NewConfig()
	config.Clusters[ContextName] = &clientcmdapi.Cluster{Server: cp.server, CertificateAuthorityData: cp.ca.certPEM}
	config.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: pair.certPEM, ClientKeyData: pair.keyPEM}
	config.Contexts[ContextName] = &clientcmdapi.Context{Cluster: ContextName, AuthInfo: name}
	config.CurrentContext = ContextName
	path := filepath.Join(cp.dir, "kubeconfig", fileSafe(name)+".yaml")
	if err := clientcmd.WriteToFile(*config, path); err != nil {
		return "", err
	}
	cp.kubeconfigs[name] = path
	return path, nil
}

// Kubeconfig returns the kubeconfig of a user added before, or "".
func (cp *ControlPlane) Kubeconfig(user string) string {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.kubeconfigs[user]
}

// RESTConfig returns a client configuration for a user added before,
// without client-side rate limiting: tests ask many questions in a row.
func (cp *ControlPlane) RESTConfig(user string) (*rest.Config, error) {
	path := cp.Kubeconfig(user)
	if path == "" {
		return nil, fmt.Errorf("no user %q: add it with AddUser", user)
	}
	config, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, err
	}
	config.QPS, config.Burst = 200, 400
	return config, nil
}

// AdminClient is a clientset with every permission.
func (cp *ControlPlane) AdminClient() (kubernetes.Interface, error) {
	config, err := cp.RESTConfig(AdminUser)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(config)
}

// WriteLogTails writes the last lines of every component's log to w.
func (cp *ControlPlane) WriteLogTails(w io.Writer, lines int) {
	for _, p := range cp.processes {
		fmt.Fprintf(w, "--- %s (%s)\n%s", p.name, p.logPath, p.logTail(lines))
	}
}

// Stop stops every component, the last started first. It may be called
// more than once.
func (cp *ControlPlane) Stop() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopped {
		return nil
	}
	cp.stopped = true
	var errs []error
	for _, p := range slices.Backward(cp.processes) {
		if err := p.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if cp.node != nil {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := cp.node.cleanUp(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("stop: %v", errs)
	}
	return nil
}

func (cp *ControlPlane) start(l layout, name, binary string, args []string) (*process, error) {
	home := filepath.Join(l.home, name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	p, err := startProcess(name, binary, args, componentEnv(home), l.logs)
	if err != nil {
		return nil, err
	}
	cp.processes = append(cp.processes, p)
	return p, nil
}

// layout is where each piece of state lives under the control plane's dir.
type layout struct {
	pki, etcdData, logs, home, flexVolumes string
}

func newLayout(dir string) (layout, error) {
	l := layout{
		pki:         filepath.Join(dir, "pki"),
		etcdData:    filepath.Join(dir, "etcd"),
		logs:        filepath.Join(dir, "logs"),
		home:        filepath.Join(dir, "home"),
		flexVolumes: filepath.Join(dir, "flexvolume"),
	}
	for _, d := range []string{l.pki, l.etcdData, l.logs, l.home, l.flexVolumes, filepath.Join(dir, "kubeconfig")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return layout{}, err
		}
	}
	return l, nil
}

// freePorts reserves n distinct loopback ports and releases them for the
// components to bind.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func fileSafe(name string) string {
	return strings.NewReplacer("/", "_", ":", "_", "@", "_at_").Replace(name)
}
