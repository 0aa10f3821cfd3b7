// Package reachability proves which workloads may open connections to which
// ports, by evaluating the NetworkPolicies a cluster holds with an
// independent policy engine (github.com/np-guard/netpol-analyzer).
//
// No packet is sent: the verdicts are what any CNI that enforces
// NetworkPolicy must do with the Namespaces, Pods and NetworkPolicies the
// API server returned, defaults included.
package reachability

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Pods picks the pods of one workload: those in Namespace that carry every
// label of Labels.
type Pods struct {
	Namespace string
	Labels    map[string]string
}

func (p Pods) String() string {
	return p.Namespace + "{" + labels.FormatLabels(p.Labels) + "}"
}

func (p Pods) equal(o Pods) bool {
	return p.Namespace == o.Namespace && maps.Equal(p.Labels, o.Labels)
}

func (p Pods) selects(pod *corev1.Pod) bool {
	return pod.Namespace == p.Namespace && labels.SelectorFromSet(p.Labels).Matches(labels.Set(pod.Labels))
}

// Source is where connections start: a workload's pods, under a name the
// matrix shows.
type Source struct {
	Name string
	Pods Pods
}

// Destination is where connections go: a port of a workload's pods, or a
// port of an address outside the cluster.
type Destination struct {
	Name     string
	Pods     Pods
	Address  netip.Addr
	Protocol corev1.Protocol
	// Port is a number, or the name of a container port of the destination
	// pods, resolved on each pod.
	Port intstr.IntOrString
}

// ToPods is a destination port on a workload's pods; port may be a
// container port's name.
func ToPods(name string, pods Pods, protocol corev1.Protocol, port intstr.IntOrString) Destination {
	return Destination{Name: name, Pods: pods, Protocol: protocol, Port: port}
}

// ToAddress is a destination port on an address outside the cluster.
func ToAddress(name string, address netip.Addr, protocol corev1.Protocol, port int32) Destination {
	return Destination{Name: name, Address: address, Protocol: protocol, Port: intstr.FromInt32(port)}
}

// outsideCluster reports whether the destination is an address, not pods.
func (d Destination) outsideCluster() bool { return d.Address.IsValid() }

// portOn is the destination port number on pod: the port itself, or the
// container port of that name and protocol.
func (d Destination) portOn(pod *corev1.Pod) (int32, error) {
	if d.Port.Type == intstr.Int {
		return d.Port.IntVal, nil
	}
	var names []string
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == d.Port.StrVal && protocolOf(p) == d.Protocol {
				return p.ContainerPort, nil
			}
			names = append(names, p.Name)
		}
	}
	return 0, fmt.Errorf("destination %s: pod %s/%s has no %s container port named %q (it has %s)",
		d.Name, pod.Namespace, pod.Name, d.Protocol, d.Port.StrVal, strings.Join(slices.Compact(slices.Sorted(slices.Values(names))), ", "))
}

// protocolOf is the port's protocol, TCP when left out (the API server's
// default).
func protocolOf(p corev1.ContainerPort) corev1.Protocol {
	if p.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return p.Protocol
}
