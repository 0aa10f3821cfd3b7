package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
)

// The cluster's addresses. Everything lives in the sandbox's network
// namespace, which has no link out of the machine: these addresses are
// private to it.
const (
	// NodeName is the one node's name, and its kubelet's identity.
	NodeName = "tinjis-node"
	// NodeIP is the node's address: the API server and the node's ports
	// (NodePorts among them) listen on it, and pods reach it.
	NodeIP = "10.250.0.1"
	// ServiceClusterIPRange is where Services get their cluster IPs.
	ServiceClusterIPRange = "10.0.0.0/24"
	// ClusterDNSIP is the kube-dns Service's cluster IP.
	ClusterDNSIP = "10.0.0.10"
	// ClusterDomain is the DNS domain of Services and pods.
	ClusterDomain = "cluster.local"
	// PodCIDR is where pods get their addresses; the controller-manager
	// assigns all of it to the one node.
	PodCIDR = "10.244.0.0/24"

	nodePrefixLength = 24
	// nodeLink holds the node's address: a bridge without ports (this
	// kernel has no dummy links).
	nodeLink = "tinjis-node0"
	// podBridge is the CNI bridge plugin's bridge; pods' veths join it.
	podBridge = "cni0"
	// kubernetesServiceIP is the first address of the Service range, which
	// the API server gives the default kubernetes Service.
	kubernetesServiceIP = "10.0.0.1"
)

// setUpNodeNetwork gives the sandbox the node's address, a route for the
// Service range (kube-proxy rewrites the destination once a packet has a
// route) and the forwarding pods need.
func setUpNodeNetwork() error {
	bridge := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: nodeLink}}
	if err := netlink.LinkAdd(bridge); err != nil {
		return fmt.Errorf("add link %s: %w", nodeLink, err)
	}
	address, err := netlink.ParseAddr(fmt.Sprintf("%s/%d", NodeIP, nodePrefixLength))
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(bridge, address); err != nil {
		return fmt.Errorf("address %s: %w", nodeLink, err)
	}
	if err := netlink.LinkSetUp(bridge); err != nil {
		return fmt.Errorf("bring up %s: %w", nodeLink, err)
	}
	_, services, err := net.ParseCIDR(ServiceClusterIPRange)
	if err != nil {
		return err
	}
	if err := netlink.RouteAdd(&netlink.Route{LinkIndex: bridge.Attrs().Index, Dst: services, Src: net.ParseIP(NodeIP)}); err != nil {
		return fmt.Errorf("route the Service range to %s: %w", nodeLink, err)
	}
	// Pods on the one bridge talk without routing: only with the bridge's
	// netfilter hook does NetworkPolicy see (and drop) their packets.
	for name, value := range map[string]string{
		"net/ipv4/ip_forward":                "1",
		"net/bridge/bridge-nf-call-iptables": "1",
	} {
		if err := os.WriteFile(filepath.Join("/proc/sys", name), []byte(value), 0); err != nil {
			return fmt.Errorf("set %s in the sandbox's network: %w", name, err)
		}
	}
	return nil
}

// tearDownNodeNetwork removes what the node and its components put into
// the sandbox's network, so the next node starts from nothing: the links,
// the netfilter rules and chains, and the IP sets.
func tearDownNodeNetwork(ctx context.Context) error {
	var errs []error
	for _, name := range []string{podBridge, nodeLink} {
		link, err := netlink.LinkByName(name)
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			continue
		}
		if err == nil {
			err = netlink.LinkDel(link)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove link %s: %w", name, err))
		}
	}
	for _, table := range []string{"filter", "nat", "mangle", "raw"} {
		for _, flag := range []string{"--flush", "--delete-chain"} {
			errs = append(errs, runCommand(ctx, "iptables", "--wait", "--table", table, flag))
		}
	}
	errs = append(errs, runCommand(ctx, "ipset", "destroy"))
	return errors.Join(errs...)
}

// runCommand runs a command of the node's (iptables, ipset, ctr) and
// returns its output with its error.
func runCommand(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
