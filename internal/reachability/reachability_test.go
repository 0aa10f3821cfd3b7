package reachability_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/tinjis/tinjis/internal/reachability"
)

// A synthetic cluster shaped like one tinjis stack (dev) next to another
// stack's Antaeus, an ingress controller, cluster DNS and probe pods.
var (
	paymentsLabels       = map[string]string{"app.kubernetes.io/name": "payments", "app.kubernetes.io/instance": "payments-dev"}
	antaeusLabels        = map[string]string{"app.kubernetes.io/name": "antaeus", "app.kubernetes.io/instance": "antaeus-dev"}
	otherAntaeusLabels   = map[string]string{"app.kubernetes.io/name": "antaeus", "app.kubernetes.io/instance": "antaeus-staging"}
	kubeDNSLabels        = map[string]string{"k8s-app": "kube-dns"}
	ingressNamespaceTags = map[string]string{"app.kubernetes.io/name": "ingress-nginx"}
	probeLabels          = map[string]string{"tinjis.test/probe": "true"}

	payments     = reachability.Pods{Namespace: "payments-dev", Labels: paymentsLabels}
	antaeus      = reachability.Pods{Namespace: "antaeus-dev", Labels: antaeusLabels}
	otherAntaeus = reachability.Pods{Namespace: "antaeus-staging", Labels: otherAntaeusLabels}
	kubeDNS      = reachability.Pods{Namespace: "kube-system", Labels: kubeDNSLabels}

	internet = netip.MustParseAddr("8.8.8.8")
)

var sources = []reachability.Source{
	{Name: "antaeus", Pods: antaeus},
	{Name: "payments", Pods: payments},
	{Name: "other stack's antaeus", Pods: otherAntaeus},
	{Name: "stranger in payments-dev", Pods: reachability.Pods{Namespace: "payments-dev", Labels: probeLabels}},
	{Name: "antaeus labels elsewhere", Pods: reachability.Pods{Namespace: "intruders", Labels: antaeusLabels}},
	{Name: "pod in default", Pods: reachability.Pods{Namespace: "default", Labels: probeLabels}},
	{Name: "ingress controller", Pods: reachability.Pods{Namespace: "ingress-nginx", Labels: probeLabels}},
}

var destinations = []reachability.Destination{
	reachability.ToPods("payments:http", payments, corev1.ProtocolTCP, intstr.FromString("http")),
	reachability.ToPods("payments:8080", payments, corev1.ProtocolTCP, intstr.FromInt32(8080)),
	reachability.ToPods("antaeus:8000", antaeus, corev1.ProtocolTCP, intstr.FromInt32(8000)),
	reachability.ToPods("dns:53/udp", kubeDNS, corev1.ProtocolUDP, intstr.FromInt32(53)),
	reachability.ToPods("dns:53/tcp", kubeDNS, corev1.ProtocolTCP, intstr.FromInt32(53)),
	reachability.ToAddress("8.8.8.8:443", internet, corev1.ProtocolTCP, 443),
	reachability.ToAddress("8.8.8.8:80", internet, corev1.ProtocolTCP, 80),
}

// expected is what the synthetic policies promise: only Antaeus of the
// same stack reaches payments, on its port; payments only resolves names;
// Antaeus takes traffic from the ingress controller only and reaches
// payments, DNS and the internet on 443.
var expected = []reachability.Pair{
	{Source: "antaeus", Destination: "payments:http"},
	{Source: "antaeus", Destination: "dns:53/udp"},
	{Source: "antaeus", Destination: "dns:53/tcp"},
	{Source: "antaeus", Destination: "8.8.8.8:443"},
	{Source: "payments", Destination: "dns:53/udp"},
	{Source: "payments", Destination: "dns:53/tcp"},
	// Probes in namespaces without policies may go anywhere that accepts them.
	{Source: "antaeus labels elsewhere", Destination: "dns:53/udp"},
	{Source: "antaeus labels elsewhere", Destination: "dns:53/tcp"},
	{Source: "antaeus labels elsewhere", Destination: "8.8.8.8:443"},
	{Source: "antaeus labels elsewhere", Destination: "8.8.8.8:80"},
	{Source: "pod in default", Destination: "dns:53/udp"},
	{Source: "pod in default", Destination: "dns:53/tcp"},
	{Source: "pod in default", Destination: "8.8.8.8:443"},
	{Source: "pod in default", Destination: "8.8.8.8:80"},
	{Source: "ingress controller", Destination: "antaeus:8000"},
	{Source: "ingress controller", Destination: "dns:53/udp"},
	{Source: "ingress controller", Destination: "dns:53/tcp"},
	{Source: "ingress controller", Destination: "8.8.8.8:443"},
	{Source: "ingress controller", Destination: "8.8.8.8:80"},
}

func TestEvaluateMatchesThePoliciesIntent(t *testing.T) {
	got := evaluate(t, cluster(), sources, destinations)
	t.Logf("matrix:\n%s", got)
	if len(got.Warnings) > 0 {
		t.Errorf("the engine warns about the policies:\n%s", strings.Join(got.Warnings, "\n"))
	}
	if diff := got.Diff(expect(t, expected...)); len(diff) > 0 {
		t.Fatalf("the matrix differs from the expected one:\n%s", lines(diff))
	}
}

func TestEvaluateCatchesABrokenPolicy(t *testing.T) {
	tests := []struct {
		name        string
		breakPolicy func(*reachability.Snapshot)
		// caught is a cell the broken policy changes.
		caught reachability.Difference
	}{
		{
			name: "payments accepting Antaeus's labels from every namespace lets a spoofing pod in",
			breakPolicy: func(s *reachability.Snapshot) {
				policy(t, s, "payments-dev", "payments").Spec.Ingress[0].From[0].NamespaceSelector = &metav1.LabelSelector{}
			},
			caught: opened("antaeus labels elsewhere", "payments:http"),
		},
		{
			name: "without the namespace's default deny a stranger pod reaches the internet",
			breakPolicy: func(s *reachability.Snapshot) {
				s.NetworkPolicies = slices.DeleteFunc(s.NetworkPolicies, func(np networkingv1.NetworkPolicy) bool {
					return np.Namespace == "payments-dev" && np.Name == "default-deny"
				})
			},
			caught: opened("stranger in payments-dev", "8.8.8.8:443"),
		},
		{
			name: "Antaeus egress to the internet on every port lets it reach anything outside",
			breakPolicy: func(s *reachability.Snapshot) {
				policy(t, s, "antaeus-dev", "antaeus").Spec.Egress[2].Ports = nil
			},
			caught: opened("antaeus", "8.8.8.8:80"),
		},
		{
			name: "payments accepting a port name its pods lack shuts Antaeus out",
			breakPolicy: func(s *reachability.Snapshot) {
				web := intstr.FromString("web")
				policy(t, s, "payments-dev", "payments").Spec.Ingress[0].Ports[0].Port = &web
			},
			caught: reachability.Difference{
				Pair: reachability.Pair{Source: "antaeus", Destination: "payments:http"},
				Got:  reachability.Denied, Want: reachability.Allowed,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broken := cluster()
			tt.breakPolicy(&broken)
			diff := evaluate(t, broken, sources, destinations).Diff(expect(t, expected...))
			if !slices.Contains(diff, tt.caught) {
				t.Fatalf("the diff misses %q; it is:\n%s", tt.caught, lines(diff))
			}
		})
	}
}

// opened is the difference of a pair that should be denied but is allowed.
func opened(source, destination string) reachability.Difference {
	return reachability.Difference{
		Pair: reachability.Pair{Source: source, Destination: destination},
		Got:  reachability.Allowed, Want: reachability.Denied,
	}
}

func TestEvaluateResolvesNamedPortsOnTheDestinationPod(t *testing.T) {
	from := []reachability.Source{{Name: "antaeus", Pods: antaeus}}
	to := []reachability.Destination{
		reachability.ToPods("by name", payments, corev1.ProtocolTCP, intstr.FromString("http")),
		reachability.ToPods("by number", payments, corev1.ProtocolTCP, intstr.FromInt32(9000)),
		reachability.ToPods("by number, over UDP", payments, corev1.ProtocolUDP, intstr.FromInt32(9000)),
	}
	m := evaluate(t, cluster(), from, to)
	for dst, want := range map[string]reachability.Verdict{"by name": reachability.Allowed, "by number": reachability.Allowed, "by number, over UDP": reachability.Denied} {
		if got := m.Verdict("antaeus", dst); got != want {
			t.Errorf("antaeus -> payments %s: %s, want %s", dst, got, want)
		}
	}

	missing := []reachability.Destination{reachability.ToPods("metrics", payments, corev1.ProtocolTCP, intstr.FromString("metrics"))}
	_, err := cluster().Evaluate(from, missing)
	if err == nil || !strings.Contains(err.Error(), `no TCP container port named "metrics"`) {
		t.Fatalf("a port name the pod lacks: got error %v, want one naming the port", err)
	}
}

func TestEvaluateReportsPodsOfOneWorkloadTreatedDifferently(t *testing.T) {
	everyPodOfPaymentsDev := []reachability.Source{{Name: "payments-dev", Pods: reachability.Pods{Namespace: "payments-dev"}}}
	m := evaluate(t, cluster(), everyPodOfPaymentsDev, destinations)
	// payments may resolve names, the stranger in its namespace may not.
	if got := m.Verdict("payments-dev", "dns:53/udp"); got != reachability.Mixed {
		t.Fatalf("payments-dev -> dns: %s, want %s", got, reachability.Mixed)
	}
}

func TestEvaluateLeavesOutPodsWithoutAnAddress(t *testing.T) {
	s := cluster()
	pending := pod("antaeus-dev", "antaeus-pending", "", otherAntaeusLabels)
	pending.Status = corev1.PodStatus{Phase: corev1.PodPending}
	s.Pods = append(s.Pods, *pending)

	// Only the pending pod carries these labels in antaeus-dev.
	_, err := s.Evaluate([]reachability.Source{{Name: "pending", Pods: reachability.Pods{Namespace: "antaeus-dev", Labels: otherAntaeusLabels}}}, destinations)
	if err == nil || !strings.Contains(err.Error(), "source pending selects no running pod") {
		t.Fatalf("a source whose only pod is pending: got error %v, want one naming the source", err)
	}
	if diff := evaluate(t, s, sources, destinations).Diff(expect(t, expected...)); len(diff) > 0 {
		t.Fatalf("a pending pod changed the matrix:\n%s", lines(diff))
	}
}

func TestExpectRefusesPairsOutsideTheMatrix(t *testing.T) {
	_, err := reachability.Expect(sources, destinations, reachability.Pair{Source: "antaeus", Destination: "payments:9999"})
	if err == nil || !strings.Contains(err.Error(), "antaeus -> payments:9999") {
		t.Fatalf("got error %v, want one naming the pair", err)
	}
}

func TestExpectMarksAWorkloadReachingItselfAsSelf(t *testing.T) {
	m := expect(t)
	if got := m.Verdict("antaeus", "antaeus:8000"); got != reachability.Self {
		t.Fatalf("antaeus -> antaeus:8000: %s, want %s", got, reachability.Self)
	}
}

func TestWriteTablePrintsARowPerSourceAndAColumnPerDestination(t *testing.T) {
	m := evaluate(t, cluster(), sources[:2], destinations[:3])
	want := "" +
		"FROM \\ TO  payments:http  payments:8080  antaeus:8000\n" +
		"antaeus    ALLOWED        denied         -\n" +
		"payments   -              -              denied\n"
	if got := m.String(); got != want {
		t.Fatalf("table:\n%s\nwant:\n%s", got, want)
	}
}

func evaluate(t *testing.T, s reachability.Snapshot, from []reachability.Source, to []reachability.Destination) reachability.Matrix {
	t.Helper()
	m, err := s.Evaluate(from, to)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range m.Warnings {
		t.Logf("engine warning: %s", w)
	}
	return m
}

func expect(t *testing.T, allowed ...reachability.Pair) reachability.Matrix {
	t.Helper()
	m, err := reachability.Expect(sources, destinations, allowed...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func lines(diff []reachability.Difference) string {
	var b strings.Builder
	for _, d := range diff {
		b.WriteString(d.String() + "\n")
	}
	return b.String()
}

func policy(t *testing.T, s *reachability.Snapshot, namespace, name string) *networkingv1.NetworkPolicy {
	t.Helper()
	for i := range s.NetworkPolicies {
		if np := &s.NetworkPolicies[i]; np.Namespace == namespace && np.Name == name {
			return np
		}
	}
	t.Fatalf("no network policy %s/%s", namespace, name)
	return nil
}

// cluster is the synthetic cluster, as the API server would return it.
func cluster() reachability.Snapshot {
	return reachability.Snapshot{
		Namespaces: []corev1.Namespace{
			namespace("payments-dev", nil), namespace("antaeus-dev", nil), namespace("antaeus-staging", nil),
			namespace("ingress-nginx", ingressNamespaceTags), namespace("intruders", nil),
			namespace("default", nil), namespace("kube-system", nil),
		},
		Pods: []corev1.Pod{
			*pod("payments-dev", "payments-7d9f", "10.244.0.10", paymentsLabels, containerPort("http", corev1.ProtocolTCP, 9000)),
			*pod("antaeus-dev", "antaeus-5c4b", "10.244.0.11", antaeusLabels, containerPort("http", corev1.ProtocolTCP, 8000)),
			*pod("antaeus-staging", "antaeus-8e2a", "10.244.0.12", otherAntaeusLabels, containerPort("http", corev1.ProtocolTCP, 8000)),
			*pod("payments-dev", "stranger", "10.244.0.13", probeLabels),
			*pod("intruders", "spoof", "10.244.0.14", antaeusLabels),
			*pod("default", "probe", "10.244.0.15", probeLabels),
			*pod("ingress-nginx", "probe", "10.244.0.16", probeLabels),
			*pod("kube-system", "kube-dns", "10.244.0.17", kubeDNSLabels,
				containerPort("dns", corev1.ProtocolUDP, 53), containerPort("dns-tcp", corev1.ProtocolTCP, 53)),
		},
		NetworkPolicies: []networkingv1.NetworkPolicy{
			defaultDeny("payments-dev"),
			defaultDeny("antaeus-dev"),
			defaultDeny("antaeus-staging"),
			{
				ObjectMeta: metav1.ObjectMeta{Namespace: "payments-dev", Name: "payments"},
				Spec: networkingv1.NetworkPolicySpec{
					PodSelector: metav1.LabelSelector{MatchLabels: paymentsLabels},
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
					Ingress: []networkingv1.NetworkPolicyIngressRule{{
						From:  []networkingv1.NetworkPolicyPeer{podsIn("antaeus-dev", antaeusLabels)},
						Ports: []networkingv1.NetworkPolicyPort{policyPort(corev1.ProtocolTCP, intstr.FromString("http"))},
					}},
					Egress: []networkingv1.NetworkPolicyEgressRule{dnsEgress()},
				},
			},
			{
				ObjectMeta: metav1.ObjectMeta{Namespace: "antaeus-dev", Name: "antaeus"},
				Spec: networkingv1.NetworkPolicySpec{
					PodSelector: metav1.LabelSelector{MatchLabels: antaeusLabels},
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
					Ingress: []networkingv1.NetworkPolicyIngressRule{{
						From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: ingressNamespaceTags}}},
						Ports: []networkingv1.NetworkPolicyPort{policyPort(corev1.ProtocolTCP, intstr.FromString("http"))},
					}},
					Egress: []networkingv1.NetworkPolicyEgressRule{
						dnsEgress(),
						{
							To:    []networkingv1.NetworkPolicyPeer{podsIn("payments-dev", paymentsLabels)},
							Ports: []networkingv1.NetworkPolicyPort{policyPort(corev1.ProtocolTCP, intstr.FromString("http"))},
						},
						{
							To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{
								CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"},
							}}},
							Ports: []networkingv1.NetworkPolicyPort{policyPort(corev1.ProtocolTCP, intstr.FromInt32(443))},
						},
					},
				},
			},
		},
	}
}

func namespace(name string, labels map[string]string) corev1.Namespace {
	all := map[string]string{"kubernetes.io/metadata.name": name}
	for k, v := range labels {
		all[k] = v
	}
	return corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: all}}
}

func pod(namespace, name, ip string, labels map[string]string, ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Ports: ports}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, HostIP: "10.250.0.1",
			PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		},
	}
}

func containerPort(name string, protocol corev1.Protocol, port int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, Protocol: protocol, ContainerPort: port}
}

func defaultDeny(namespace string) networkingv1.NetworkPolicy {
	return networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "default-deny"},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
}

func podsIn(namespace string, labels map[string]string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: labels},
	}
}

func dnsEgress() networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{podsIn("kube-system", kubeDNSLabels)},
		Ports: []networkingv1.NetworkPolicyPort{
			policyPort(corev1.ProtocolUDP, intstr.FromInt32(53)),
			policyPort(corev1.ProtocolTCP, intstr.FromInt32(53)),
		},
	}
}

func policyPort(protocol corev1.Protocol, port intstr.IntOrString) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: &protocol, Port: &port}
}

func TestPlannedPodsEvaluateAsTheRunningPodsTheyStandFor(t *testing.T) {
	s := cluster()
	for i, p := range s.Pods {
		planned, err := reachability.PlannedPod(p.Namespace, p.Name, corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: p.Labels}, Spec: p.Spec}, i)
		if err != nil {
			t.Fatal(err)
		}
		s.Pods[i] = planned
	}
	if diff := evaluate(t, s, sources, destinations).Diff(expect(t, expected...)); len(diff) > 0 {
		t.Fatalf("planned pods changed the matrix:\n%s", lines(diff))
	}
	if _, err := reachability.PlannedPod("payments-dev", "one-too-many", corev1.PodTemplateSpec{}, 1<<16); err == nil {
		t.Fatal("a planned pod past the last address of the range: no error")
	}
}
