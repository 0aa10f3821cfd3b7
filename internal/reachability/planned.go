package reachability

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// plannedNode is the address of the node planned pods are placed on; the
// engine, like a CNI, ignores pods not scheduled yet, and compares
// addresses with the node's, so it must be an address outside the pods'.
const plannedNode = "10.254.0.1"

// plannedAddresses is where planned pods get their addresses: a private
// range, as a cluster's pod network is, so no rule for public addresses
// (ipBlock 0.0.0.0/0 except the private ranges) mistakes a pod for the
// internet.
var plannedAddresses = netip.MustParsePrefix("10.255.0.0/16")

// PlannedPod is a pod as a program declares it, before any cluster runs
// it: the template a workload starts its pods from, in namespace, placed on
// a node and given the index-th address of a private range, so Evaluate
// treats it as running. Give every planned pod of a snapshot its own index.
func PlannedPod(namespace, name string, template corev1.PodTemplateSpec, index int) (corev1.Pod, error) {
	address := plannedAddresses.Addr()
	for range index + 1 {
		address = address.Next()
	}
	if !plannedAddresses.Contains(address) {
		return corev1.Pod{}, fmt.Errorf("planned pod %s/%s: index %d is past the last address of %s", namespace, name, index, plannedAddresses)
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   namespace,
			Name:        name,
			Labels:      template.Labels,
			Annotations: template.Annotations,
		},
		Spec: template.Spec,
		Status: corev1.PodStatus{
			Phase:  corev1.PodRunning,
			HostIP: plannedNode,
			PodIP:  address.String(),
			PodIPs: []corev1.PodIP{{IP: address.String()}},
		},
	}, nil
}
