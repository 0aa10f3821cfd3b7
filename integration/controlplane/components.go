package controlplane

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/tinjis/tinjis/integration/internal/repo"
)

// binaries are the executables the cluster runs: the pinned builds of
// tools/build.sh, and the container runtime from the system's packages
// (tools/node-packages.sh).
type binaries struct {
	etcd, apiserver, controllerManager, scheduler string
	kubelet, kubeProxy, kubeRouter, coredns       string
	containerd                                    string
}

func findBinaries() (binaries, error) {
	var b binaries
	var err error
	for _, tool := range []struct {
		name string
		path *string
	}{
		{"etcd", &b.etcd},
		{"kube-apiserver", &b.apiserver},
		{"kube-controller-manager", &b.controllerManager},
		{"kube-scheduler", &b.scheduler},
		{"kubelet", &b.kubelet},
		{"kube-proxy", &b.kubeProxy},
		{"kube-router", &b.kubeRouter},
		{"coredns", &b.coredns},
	} {
		if *tool.path, err = repo.Tool(tool.name); err != nil {
			return binaries{}, err
		}
	}
	// containerd starts runc, the shims and the CNI plugins and ctr talks to
	// it: all from the same packages, found on PATH.
	for _, command := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "ipset"} {
		path, err := exec.LookPath(command)
		if err != nil {
			return binaries{}, fmt.Errorf("%s is not installed: run `make tools` (tools/node-packages.sh): %w", command, err)
		}
		if command == "containerd" {
			b.containerd = path
		}
	}
	if _, err := os.Stat(filepath.Join(cniBinDir, "bridge")); err != nil {
		return binaries{}, fmt.Errorf("the CNI plugins are not installed in %s: run `make tools` (tools/node-packages.sh): %w", cniBinDir, err)
	}
	return b, nil
}

// clusterCerts are the files the components authenticate each other with.
type clusterCerts struct {
	ca                                  *authority
	caFile                              string
	servingCert, servingKey             string
	frontProxyCAFile                    string
	frontProxyClientCert, frontProxyKey string
	serviceAccountKey                   string
	// kubeletClientCert and kubeletClientKey are what the API server shows
	// kubelet to read logs and exec in pods.
	kubeletClientCert, kubeletClientKey string
}

func newClusterCerts(dir string) (clusterCerts, error) {
	c := clusterCerts{
		caFile:            filepath.Join(dir, "ca.crt"),
		frontProxyCAFile:  filepath.Join(dir, "front-proxy-ca.crt"),
		serviceAccountKey: filepath.Join(dir, "service-account.key"),
	}
	var err error
	if c.ca, err = newAuthority("tinjis-test-ca"); err != nil {
		return c, err
	}
	if err := os.WriteFile(c.caFile, c.ca.certPEM, 0o600); err != nil {
		return c, err
	}
	serving, err := c.ca.servingCert([]net.IP{net.ParseIP(NodeIP), net.ParseIP(kubernetesServiceIP)}, "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
	if err != nil {
		return c, err
	}
	if c.servingCert, c.servingKey, err = serving.write(dir, "apiserver"); err != nil {
		return c, err
	}
	// The API server presents the front-proxy client certificate to
	// aggregated API servers; the controller-manager checks its CA is there.
	frontProxyCA, err := newAuthority("tinjis-test-front-proxy-ca")
	if err != nil {
		return c, err
	}
	if err := os.WriteFile(c.frontProxyCAFile, frontProxyCA.certPEM, 0o600); err != nil {
		return c, err
	}
	frontProxyClient, err := frontProxyCA.clientCert("front-proxy-client")
	if err != nil {
		return c, err
	}
	if c.frontProxyClientCert, c.frontProxyKey, err = frontProxyClient.write(dir, "front-proxy-client"); err != nil {
		return c, err
	}
	kubeletClient, err := c.ca.clientCert("kube-apiserver-kubelet-client", "system:masters")
	if err != nil {
		return c, err
	}
	if c.kubeletClientCert, c.kubeletClientKey, err = kubeletClient.write(dir, "kubelet-client"); err != nil {
		return c, err
	}
	return c, newServiceAccountSigningKey(c.serviceAccountKey)
}

func etcdArgs(dataDir string, clientPort, peerPort int) []string {
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	return []string{
		"--name=tinjis-test",
		"--data-dir=" + dataDir,
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=tinjis-test=" + peer,
		"--unsafe-no-fsync",
		"--log-level=warn",
	}
}

func apiserverArgs(c clusterCerts, etcdPort, port int, server string) []string {
	return []string{
		// Pods reach the API server through the kubernetes Service, whose
		// endpoint is the advertised address.
		"--advertise-address=" + NodeIP,
		"--bind-address=" + NodeIP,
		"--secure-port=" + strconv.Itoa(port),
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(etcdPort),
		"--tls-cert-file=" + c.servingCert,
		"--tls-private-key-file=" + c.servingKey,
		"--client-ca-file=" + c.caFile,
		"--authorization-mode=Node,RBAC",
		// The admission plugins a real cluster runs by default (PodSecurity,
		// ServiceAccount, ...) stay on; the Node authorizer wants this one too.
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--service-account-issuer=" + server,
		"--service-account-key-file=" + c.serviceAccountKey,
		"--service-account-signing-key-file=" + c.serviceAccountKey,
		"--service-cluster-ip-range=" + ServiceClusterIPRange,
		"--kubelet-client-certificate=" + c.kubeletClientCert,
		"--kubelet-client-key=" + c.kubeletClientKey,
		"--kubelet-certificate-authority=" + c.caFile,
		"--kubelet-preferred-address-types=InternalIP",
		"--requestheader-client-ca-file=" + c.frontProxyCAFile,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + c.frontProxyClientCert,
		"--proxy-client-key-file=" + c.frontProxyKey,
		"--profiling=false",
	}
}

func controllerManagerArgs(c clusterCerts, kubeconfig string, port int, flexVolumeDir string) []string {
	return append(clientComponentArgs(kubeconfig, port),
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+c.serviceAccountKey,
		"--root-ca-file="+c.caFile,
		"--client-ca-file="+c.caFile,
		"--requestheader-client-ca-file="+c.frontProxyCAFile,
		// Its default is under /usr/libexec.
		"--flex-volume-plugin-dir="+flexVolumeDir,
		// Nothing here signs certificate requests: tests issue their own.
		"--controllers=*,-csrsigning",
		// The one node gets the whole pod range, as the CNI config has it.
		"--allocate-node-cidrs=true",
		"--cluster-cidr="+PodCIDR,
		"--node-cidr-mask-size=24",
		"--service-cluster-ip-range="+ServiceClusterIPRange,
	)
}

func schedulerArgs(kubeconfig string, port int) []string {
	return clientComponentArgs(kubeconfig, port)
}

// clientComponentArgs are what the controller-manager and the scheduler
// share: one kubeconfig for everything, loopback only, no leader election.
func clientComponentArgs(kubeconfig string, port int) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--leader-elect=false",
		"--profiling=false",
	}
}
