package stack

import (
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// peer is a workload seen from a NetworkPolicy of another namespace: the
// namespace it runs in and the labels of its pods.
type peer struct {
	namespace pulumi.StringInput
	workload  workload
}

const (
	policyIngress = "Ingress"
	policyEgress  = "Egress"
)

// The cluster DNS: CoreDNS (or kube-dns) pods in kube-system, which keep
// the k8s-app=kube-dns label on every common distribution.
var (
	dnsNamespace = map[string]string{namespaceNameLabel: "kube-system"}
	dnsPods      = map[string]string{"k8s-app": "kube-dns"}
)

const dnsPort = 53

// internetExcept keeps "the internet" from meaning the cluster, the private
// networks around it, or the cloud's metadata endpoint.
var internetExcept = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"}

// newDefaultDeny refuses all traffic to and from every pod of the
// namespace; other policies then open exactly what is needed.
func newDefaultDeny(ctx *pulumi.Context, w workload, namespace pulumi.StringInput, opts ...pulumi.ResourceOption) (*networkingv1.NetworkPolicy, error) {
	return networkingv1.NewNetworkPolicy(ctx, w.name()+"-default-deny", &networkingv1.NetworkPolicyArgs{
		Metadata: objectMeta(w, namespace, "default-deny"),
		Spec: networkingv1.NetworkPolicySpecArgs{
			PodSelector: metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String(policyIngress), pulumi.String(policyEgress)},
		},
	}, opts...)
}

// newWorkloadPolicy opens, for the workload's pods only, the ingress and
// egress rules given; no egress rules means no egress at all.
func newWorkloadPolicy(ctx *pulumi.Context, w workload, namespace pulumi.StringInput, ingress networkingv1.NetworkPolicyIngressRuleArray, egress networkingv1.NetworkPolicyEgressRuleArray, opts ...pulumi.ResourceOption) (*networkingv1.NetworkPolicy, error) {
	return networkingv1.NewNetworkPolicy(ctx, w.name(), &networkingv1.NetworkPolicyArgs{
		Metadata: objectMeta(w, namespace, w.name()),
		Spec: networkingv1.NetworkPolicySpecArgs{
			PodSelector: metav1.LabelSelectorArgs{MatchLabels: stringMap(w.selector())},
			PolicyTypes: pulumi.StringArray{pulumi.String(policyIngress), pulumi.String(policyEgress)},
			Ingress:     ingress,
			Egress:      egress,
		},
	}, opts...)
}

// podsOf selects the workload's pods in its own namespace only: the same
// labels in any other namespace do not match.
func podsOf(p peer) networkingv1.NetworkPolicyPeerArgs {
	return networkingv1.NetworkPolicyPeerArgs{
		NamespaceSelector: metav1.LabelSelectorArgs{
			MatchLabels: pulumi.StringMap{namespaceNameLabel: p.namespace},
		},
		PodSelector: metav1.LabelSelectorArgs{MatchLabels: stringMap(p.workload.selector())},
	}
}

func tcpPort(port int) networkingv1.NetworkPolicyPortArgs {
	return networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(port)}
}

// toDNS lets pods resolve names through the cluster DNS.
func toDNS() networkingv1.NetworkPolicyEgressRuleArgs {
	return networkingv1.NetworkPolicyEgressRuleArgs{
		To: networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{
			NamespaceSelector: metav1.LabelSelectorArgs{MatchLabels: stringMap(dnsNamespace)},
			PodSelector:       metav1.LabelSelectorArgs{MatchLabels: stringMap(dnsPods)},
		}},
		Ports: networkingv1.NetworkPolicyPortArray{
			networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("UDP"), Port: pulumi.Int(dnsPort)},
			tcpPort(dnsPort),
		},
	}
}

// toWorkload lets pods call the workload's pods on their port.
func toWorkload(p peer) networkingv1.NetworkPolicyEgressRuleArgs {
	return networkingv1.NetworkPolicyEgressRuleArgs{
		To:    networkingv1.NetworkPolicyPeerArray{podsOf(p)},
		Ports: networkingv1.NetworkPolicyPortArray{tcpPort(p.workload.port)},
	}
}

// toInternet lets pods reach public addresses over HTTP and HTTPS.
func toInternet() networkingv1.NetworkPolicyEgressRuleArgs {
	return networkingv1.NetworkPolicyEgressRuleArgs{
		To: networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{
			IpBlock: networkingv1.IPBlockArgs{
				Cidr:   pulumi.String("0.0.0.0/0"),
				Except: pulumi.ToStringArray(internetExcept),
			},
		}},
		Ports: networkingv1.NetworkPolicyPortArray{tcpPort(80), tcpPort(443)},
	}
}

// fromWorkload admits calls from the workload's pods on port.
func fromWorkload(p peer, port int) networkingv1.NetworkPolicyIngressRuleArgs {
	return networkingv1.NetworkPolicyIngressRuleArgs{
		From:  networkingv1.NetworkPolicyPeerArray{podsOf(p)},
		Ports: networkingv1.NetworkPolicyPortArray{tcpPort(port)},
	}
}

// fromNetworks admits calls on port from any pod of the namespaces
// matching labels (none when labels is empty) and from the addresses of
// cidrs.
func fromNetworks(labels map[string]string, cidrs []string, port int) networkingv1.NetworkPolicyIngressRuleArgs {
	var peers networkingv1.NetworkPolicyPeerArray
	if len(labels) > 0 {
		peers = append(peers, networkingv1.NetworkPolicyPeerArgs{
			NamespaceSelector: metav1.LabelSelectorArgs{MatchLabels: stringMap(labels)},
		})
	}
	for _, cidr := range cidrs {
		peers = append(peers, networkingv1.NetworkPolicyPeerArgs{IpBlock: networkingv1.IPBlockArgs{Cidr: pulumi.String(cidr)}})
	}
	return networkingv1.NetworkPolicyIngressRuleArgs{
		From:  peers,
		Ports: networkingv1.NetworkPolicyPortArray{tcpPort(port)},
	}
}

// fromAnywhere admits calls from any source on port: for a Service exposed
// directly through a load balancer or node ports.
func fromAnywhere(port int) networkingv1.NetworkPolicyIngressRuleArgs {
	return networkingv1.NetworkPolicyIngressRuleArgs{
		Ports: networkingv1.NetworkPolicyPortArray{tcpPort(port)},
	}
}
