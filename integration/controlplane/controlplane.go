// Package controlplane runs a real Kubernetes control plane for tests, on
// 127.0.0.1 and without containers: etcd, kube-apiserver (TLS, RBAC and Node
// authorization, Pod Security admission, client-certificate users),
// kube-controller-manager, kube-scheduler, and kwok simulating the nodes, so
// pods are scheduled and become Ready, Deployments become Available and
// Services get ready endpoints. Probes are not executed and images are not
// pulled.
//
// The binaries are the ones tools/build.sh builds (see the repo package).
package controlplane

import (
	"context"
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

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	// AdminUser is in system:masters: it may do anything.
	AdminUser = "tinjis-admin"
	// ContextName is the current context in every kubeconfig the control
	// plane writes.
	ContextName = "tinjis-test"
	// ServiceClusterIPRange is where Services get their cluster IPs.
	ServiceClusterIPRange = "10.0.0.0/24"
	// FakeNodeAnnotation marks the Nodes kwok manages.
	FakeNodeAnnotation = "kwok.x-k8s.io/node"

	startTimeout = 90 * time.Second
)

// Options shape the cluster.
type Options struct {
	// Nodes is how many fake nodes to create, each in a zone of its own
	// (topology.kubernetes.io/zone), so topology spread can be satisfied.
	// Zero means 2.
	Nodes int
}

// ControlPlane is a running cluster. Its methods are safe for concurrent use.
type ControlPlane struct {
	dir       string
	server    string
	ca        *authority
	processes []*process

	mu          sync.Mutex
	kubeconfigs map[string]string
	stopped     bool
}

// StartForTest starts a control plane whose state lives in t.TempDir(), and
// stops it when the test ends; when the test failed, the tail of every
// component's log is logged first.
func StartForTest(tb testing.TB, opts Options) *ControlPlane {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cp, err := Start(ctx, tb.TempDir(), opts)
	if err != nil {
		tb.Fatalf("start control plane: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			var logs strings.Builder
			cp.WriteLogTails(&logs, 40)
			tb.Log(logs.String())
		}
		if err := cp.Stop(); err != nil {
			tb.Errorf("stop control plane: %v", err)
		}
	})
	return cp
}

// Start starts every component with its state under dir and returns once
// the fake nodes are Ready and the controllers serve. On error, whatever was
// started is stopped again.
func Start(ctx context.Context, dir string, opts Options) (_ *ControlPlane, err error) {
	if opts.Nodes == 0 {
		opts.Nodes = 2
	}
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
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	etcdClientPort, etcdPeerPort, apiPort, controllerManagerPort, schedulerPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	cp.server = "https://127.0.0.1:" + strconv.Itoa(apiPort)

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
	if err := waitHealthy(ctx, apiserver, cp.server+"/readyz", adminConfig); err != nil {
		return nil, err
	}

	controllerManagerKubeconfig, err := cp.AddUser("system:kube-controller-manager")
	if err != nil {
		return nil, err
	}
	controllerManager, err := cp.start(l, "kube-controller-manager", binaries.controllerManager,
		controllerManagerArgs(certs, controllerManagerKubeconfig, controllerManagerPort, l.flexVolumes))
	if err != nil {
		return nil, err
	}
	schedulerKubeconfig, err := cp.AddUser("system:kube-scheduler")
	if err != nil {
		return nil, err
	}
	scheduler, err := cp.start(l, "kube-scheduler", binaries.scheduler,
		schedulerArgs(schedulerKubeconfig, schedulerPort))
	if err != nil {
		return nil, err
	}
	// kwok writes node and pod status for any node: it acts for every kubelet.
	kwokKubeconfig, err := cp.AddUser("kwok", "system:masters")
	if err != nil {
		return nil, err
	}
	kwok, err := cp.start(l, "kwok", binaries.kwok, kwokArgs(kwokKubeconfig, binaries.kwokStages))
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
	if err := waitForDefaultServiceAccount(ctx, client, controllerManager); err != nil {
		return nil, err
	}
	if err := createFakeNodes(ctx, client, opts.Nodes); err != nil {
		return nil, err
	}
	if err := waitForNodesReady(ctx, client, kwok, opts.Nodes); err != nil {
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
