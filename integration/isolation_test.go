package integration

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/stack"
	"github.com/tinjis/tinjis/integration/testimages"
	"github.com/tinjis/tinjis/internal/reachability"
)

// Probes: pods that are not part of the product, placed where an attacker
// or a neighbour would be.
const (
	// spoofingNamespace holds pods that copy each stack's Antaeus labels.
	spoofingNamespace = "label-spoofing"
	// otherPort is a payments port nothing should reach.
	otherPort = 8080
)

var (
	probeLabels = map[string]string{"app.kubernetes.io/name": "reachability-probe"}
	// The cluster DNS pods keep this label on every common distribution.
	kubeDNS = reachability.Pods{Namespace: metav1.NamespaceSystem, Labels: map[string]string{"k8s-app": "kube-dns"}}
	// outsideAddress stands for the internet: an address of the
	// documentation range (TEST-NET-3), which the test serves itself inside
	// the sandbox; no packet leaves the machine.
	outsideAddress = netip.MustParseAddr("203.0.113.10")
)

// checkNetworkIsolation adds probe pods around the deployed stacks, reads
// back what the API server holds and evaluates its NetworkPolicies with an
// independent engine, then measures every pair with real connections from
// the sources' pods: each pair must be allowed or denied exactly as the
// stack's config says, and the node must agree with the analyzer. Then a
// payments policy broken on purpose must fail both.
func checkNetworkIsolation(t *testing.T, k *kube, stacks []*liveStack) {
	started := time.Now()
	if len(stacks) != 2 {
		t.Fatalf("the isolation matrix pairs each stack with another; got %d stacks", len(stacks))
	}
	views := []*isolationView{
		newIsolationView(t, k, stacks[0], stacks[1]),
		newIsolationView(t, k, stacks[1], stacks[0]),
	}
	var probes []*corev1.Pod
	var namespaces []*corev1.Namespace
	for _, v := range views {
		probes = append(probes, v.probes...)
		namespaces = append(namespaces, v.namespaces...)
	}
	k.createProbes(t, namespaces, probes)
	for _, v := range views {
		k.attachProbeAgents(t, v.workloads()...)
	}
	serveOutsideAddress(t)
	prober := agentProber()
	t.Logf("probes ready in %s", time.Since(started).Round(time.Millisecond))

	t.Run("every pair is allowed or denied as the stack config says", func(t *testing.T) {
		snapshot := k.snapshot(t)
		for _, v := range views {
			t.Run(v.stack.name, func(t *testing.T) {
				want := v.expected(t)
				got := v.evaluate(t, snapshot)
				t.Logf("NetworkPolicy reachability around stack %s, as the analyzer evaluates it:\n%s", v.stack.name, got)
				if diff := got.Diff(want); len(diff) > 0 {
					t.Errorf("the evaluated matrix differs from the stack's config:\n%s", formatDiff(diff))
				}
				measured := v.measure(t, snapshot, prober, want)
				t.Logf("NetworkPolicy reachability around stack %s, measured by connections on the node:\n%s", v.stack.name, measured)
				if diff := measured.Diff(got); len(diff) > 0 {
					t.Errorf("the node's connections disagree with the analyzer:\n%s", formatDiff(diff))
				}
			})
		}
	})

	t.Run("a payments policy broken on purpose fails the check", func(t *testing.T) {
		v := views[0]
		tests := []struct {
			name string
			// patch is a JSON patch of the payments NetworkPolicy.
			patch  string
			caught reachability.Difference
		}{
			{
				name:   "an empty namespace selector lets Antaeus's labels in from any namespace",
				patch:  `[{"op": "replace", "path": "/spec/ingress/0/from/0/namespaceSelector", "value": {}}]`,
				caught: reachability.Difference{Pair: reachability.Pair{Source: v.spoof, Destination: v.paymentsPort}, Got: reachability.Allowed, Want: reachability.Denied},
			},
			{
				name:   "without a namespace selector only payments' own namespace may call, shutting Antaeus out",
				patch:  `[{"op": "remove", "path": "/spec/ingress/0/from/0/namespaceSelector"}]`,
				caught: reachability.Difference{Pair: reachability.Pair{Source: v.antaeus, Destination: v.paymentsPort}, Got: reachability.Denied, Want: reachability.Allowed},
			},
			{
				name:   "a metrics rule without sources opens the metrics port to every pod",
				patch:  `[{"op": "remove", "path": "/spec/ingress/1/from"}]`,
				caught: reachability.Difference{Pair: reachability.Pair{Source: v.inDefault, Destination: v.paymentsMetrics}, Got: reachability.Allowed, Want: reachability.Denied},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				k.patchPaymentsPolicy(t, v, tt.patch)
				snapshot := k.snapshot(t)
				want := v.expected(t)
				got := v.evaluate(t, snapshot)
				diff := got.Diff(want)
				t.Logf("after the patch, evaluated:\n%s\ndiff:\n%s", got, formatDiff(diff))
				if !slices.Contains(diff, tt.caught) {
					t.Errorf("the analyzer misses %q", tt.caught)
				}
				// Probed until each cell shows what the broken policy
				// does, as the analyzer says it.
				measured := v.measure(t, snapshot, prober, got)
				measuredDiff := measured.Diff(want)
				t.Logf("after the patch, measured:\n%s\ndiff:\n%s", measured, formatDiff(measuredDiff))
				if !slices.Contains(measuredDiff, tt.caught) {
					t.Errorf("the node's connections miss %q", tt.caught)
				}
			})
		}
	})
}

// isolationView is the matrix around one stack: its workloads, the other
// stack's Antaeus and the probes as sources; its workloads, DNS and an
// address outside the cluster as destinations.
type isolationView struct {
	stack, other *liveStack
	// The stack's workloads; their pods are sources too.
	antaeusWorkload, payments *appsv1.Deployment

	sources      []reachability.Source
	destinations []reachability.Destination
	// probes and the namespaces they need, with their labels.
	probes     []*corev1.Pod
	namespaces []*corev1.Namespace

	// Row and column names.
	antaeus, paymentsRow, otherAntaeus, stranger, spoof, inDefault, inFront string
	paymentsPort, paymentsOtherPort, antaeusPort, dnsUDP, dnsTCP, outside   string
	// payments' metrics port, and a pod where the stack's monitoring
	// system runs ("" when the config names no such namespace).
	paymentsMetrics, inMonitoring string
}

func newIsolationView(t *testing.T, k *kube, s, other *liveStack) *isolationView {
	t.Helper()
	antaeus := k.stackDeployment(t, s, config.ServiceAntaeus)
	payments := k.stackDeployment(t, s, config.ServicePayments)
	otherAntaeus := k.stackDeployment(t, other, config.ServiceAntaeus)
	v := &isolationView{stack: s, other: other, antaeusWorkload: antaeus, payments: payments}

	stranger := probePod(payments.Namespace, "stranger", probeLabels)
	spoof := probePod(spoofingNamespace, "spoofs-"+antaeus.Namespace, antaeus.Spec.Template.Labels)
	inDefault := probePod(metav1.NamespaceDefault, "probe", probeLabels)
	v.probes = []*corev1.Pod{stranger, spoof, inDefault}
	v.namespaces = []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: spoofingNamespace}}}
	v.antaeus = v.addSource(antaeus.Namespace, podsOf(antaeus))
	v.paymentsRow = v.addSource(payments.Namespace, podsOf(payments))
	v.otherAntaeus = v.addSource(otherAntaeus.Namespace+" (other stack)", podsOf(otherAntaeus))
	v.stranger = v.addSource("stranger in "+payments.Namespace, podsOfProbe(stranger))
	v.spoof = v.addSource(antaeus.Namespace+" labels in "+spoofingNamespace, podsOfProbe(spoof))
	v.inDefault = v.addSource("pod in "+metav1.NamespaceDefault, podsOfProbe(inDefault))
	if ns, role, ok := frontNamespace(s.cfg); ok {
		inFront := probePod(ns.Name, "probe", probeLabels)
		v.probes = append(v.probes, inFront)
		v.namespaces = append(v.namespaces, ns)
		v.inFront = v.addSource("pod in "+ns.Name+" ("+role+")", podsOfProbe(inFront))
	}

	paymentsPort := containerPort(t, payments)
	if paymentsPort.ContainerPort == otherPort {
		t.Fatalf("payments listens on %d, the port the test expects nothing to reach", otherPort)
	}
	antaeusPort := containerPort(t, antaeus)
	v.paymentsPort = v.addDestination(reachability.ToPods(fmt.Sprintf("%s:%d", payments.Namespace, paymentsPort.ContainerPort),
		podsOf(payments), corev1.ProtocolTCP, intstr.FromString(paymentsPort.Name)))
	v.addMetrics(t, payments)
	v.paymentsOtherPort = v.addDestination(reachability.ToPods(fmt.Sprintf("%s:%d", payments.Namespace, otherPort),
		podsOf(payments), corev1.ProtocolTCP, intstr.FromInt32(otherPort)))
	v.antaeusPort = v.addDestination(reachability.ToPods(fmt.Sprintf("%s:%d", antaeus.Namespace, antaeusPort.ContainerPort),
		podsOf(antaeus), corev1.ProtocolTCP, intstr.FromString(antaeusPort.Name)))
	v.dnsUDP = v.addDestination(reachability.ToPods("kube-dns:53/udp", kubeDNS, corev1.ProtocolUDP, intstr.FromInt32(53)))
	v.dnsTCP = v.addDestination(reachability.ToPods("kube-dns:53/tcp", kubeDNS, corev1.ProtocolTCP, intstr.FromInt32(53)))
	v.outside = v.addDestination(reachability.ToAddress(outsideAddress.String()+":443", outsideAddress, corev1.ProtocolTCP, 443))
	return v
}

func (v *isolationView) addSource(name string, pods reachability.Pods) string {
	v.sources = append(v.sources, reachability.Source{Name: name, Pods: pods})
	return name
}

func (v *isolationView) addDestination(d reachability.Destination) string {
	v.destinations = append(v.destinations, d)
	return d.Name
}

// expected is the matrix the stack's config promises, row by row; every
// pair not listed is denied.
func (v *isolationView) expected(t *testing.T) reachability.Matrix {
	t.Helper()
	cfg := v.stack.cfg
	exposedDirectly := cfg.Expose.Mode == config.ExposeLoadBalancer || cfg.Expose.Mode == config.ExposeNodePort
	antaeusOnline := cfg.Antaeus.Flavor.NeedsInternet()
	otherAntaeusOnline := v.other.cfg.Antaeus.Flavor.NeedsInternet()
	rows := []struct {
		source  string
		reaches []string
	}{
		{v.antaeus, []string{v.paymentsPort, v.dnsUDP, v.dnsTCP, onlyIf(antaeusOnline, v.outside)}},
		// payments calls nothing: no egress at all, DNS included.
		{v.paymentsRow, nil},
		{v.otherAntaeus, []string{v.dnsUDP, v.dnsTCP, onlyIf(otherAntaeusOnline, v.outside)}},
		// The namespace's default deny holds pods the product did not put there.
		{v.stranger, nil},
		// Probes in namespaces without policies: egress is open, so only
		// the destination's ingress policy decides.
		{v.spoof, []string{onlyIf(exposedDirectly, v.antaeusPort), v.dnsUDP, v.dnsTCP, v.outside}},
		{v.inDefault, []string{onlyIf(exposedDirectly, v.antaeusPort), v.dnsUDP, v.dnsTCP, v.outside}},
		{v.inFront, []string{v.antaeusPort, v.dnsUDP, v.dnsTCP, v.outside}},
		// The monitoring system scrapes payments' metrics and charges nothing.
		{v.inMonitoring, []string{v.paymentsMetrics, onlyIf(exposedDirectly, v.antaeusPort), v.dnsUDP, v.dnsTCP, v.outside}},
	}
	var allowed []reachability.Pair
	for _, row := range rows {
		if row.source == "" {
			continue
		}
		for _, d := range row.reaches {
			if d != "" {
				allowed = append(allowed, reachability.Pair{Source: row.source, Destination: d})
			}
		}
	}
	m, err := reachability.Expect(v.sources, v.destinations, allowed...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// addMetrics adds payments' metrics port as a destination, and as a source
// a probe in the namespace the stack admits scrapers from, if it names one
// by labels.
func (v *isolationView) addMetrics(t *testing.T, payments *appsv1.Deployment) {
	t.Helper()
	metrics := namedContainerPort(t, "Deployment "+payments.Namespace+"/"+payments.Name, payments.Spec.Template.Spec, stack.MetricsPortName)
	v.paymentsMetrics = v.addDestination(reachability.ToPods(fmt.Sprintf("%s:%d", payments.Namespace, metrics.ContainerPort),
		podsOf(payments), corev1.ProtocolTCP, intstr.FromString(metrics.Name)))
	scrapers := v.stack.cfg.Payments.Metrics.From.NamespaceLabels
	if len(scrapers) == 0 {
		return
	}
	ns := namespaceWithLabels(scrapers, "monitoring-"+v.stack.cfg.Environment)
	inMonitoring := probePod(ns.Name, "probe", probeLabels)
	v.probes = append(v.probes, inMonitoring)
	v.namespaces = append(v.namespaces, ns)
	v.inMonitoring = v.addSource("pod in "+ns.Name+" (monitoring)", podsOfProbe(inMonitoring))
}

// onlyIf is destination when cond holds, else no destination.
func onlyIf(cond bool, destination string) string {
	if cond {
		return destination
	}
	return ""
}

func (v *isolationView) evaluate(t *testing.T, s reachability.Snapshot) reachability.Matrix {
	t.Helper()
	m, err := s.Evaluate(v.sources, v.destinations)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range m.Warnings {
		t.Errorf("the policy engine warns: %s", w)
	}
	return m
}

// podsOf selects a Deployment's pods, as its own selector does.
func podsOf(d *appsv1.Deployment) reachability.Pods {
	return reachability.Pods{Namespace: d.Namespace, Labels: d.Spec.Selector.MatchLabels}
}

func podsOfProbe(p *corev1.Pod) reachability.Pods {
	return reachability.Pods{Namespace: p.Namespace, Labels: p.Labels}
}

// containerPort is the Deployment's first container port: the one its
// Service and policies serve.
func containerPort(t *testing.T, d *appsv1.Deployment) corev1.ContainerPort {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			return p
		}
	}
	t.Fatalf("Deployment %s/%s declares no container port", d.Namespace, d.Name)
	return corev1.ContainerPort{}
}

// namedContainerPort is the container port called name of the pods of
// owner (a Deployment's template, or a pod).
func namedContainerPort(t *testing.T, owner string, pods corev1.PodSpec, name string) corev1.ContainerPort {
	t.Helper()
	for _, c := range pods.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return p
			}
		}
	}
	t.Fatalf("%s declares no container port named %s", owner, name)
	return corev1.ContainerPort{}
}

// frontNamespace is the namespace of what the stack exposes Antaeus
// through, as its config selects it: the ingress controller's, or the
// gateway data plane's. It is named after its kubernetes.io/metadata.name
// label when it has one; role says which it is.
func frontNamespace(cfg config.Config) (ns *corev1.Namespace, role string, ok bool) {
	var nsLabels map[string]string
	switch cfg.Expose.Mode {
	case config.ExposeIngress:
		nsLabels, role = cfg.Expose.Ingress.ControllerNamespaceLabels, "ingress controller"
	case config.ExposeGateway:
		nsLabels, role = cfg.Expose.Gateway.DataPlaneNamespaceLabels, "gateway"
	}
	if len(nsLabels) == 0 {
		return nil, "", false
	}
	return namespaceWithLabels(nsLabels, "front-"+cfg.Environment), role, true
}

// namespaceWithLabels is a namespace that nsLabels select: named after its
// kubernetes.io/metadata.name label when it has one, else fallback.
func namespaceWithLabels(nsLabels map[string]string, fallback string) *corev1.Namespace {
	name := nsLabels[corev1.LabelMetadataName]
	if name == "" {
		name = fallback
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: nsLabels}}
}

// probePod is a pod that is not part of the product, running the
// connection agent; it meets the restricted Pod Security level, so any
// namespace admits it.
func probePod(namespace, name string, podLabels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: podLabels},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:  "probe",
				Image: testimages.ProbeRef,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

// createProbes creates the namespaces (with their labels) and the probes,
// each once, and waits until every probe's agent answers.
func (k *kube) createProbes(t *testing.T, namespaces []*corev1.Namespace, probes []*corev1.Pod) {
	t.Helper()
	for _, ns := range namespaces {
		k.ensureNamespace(t, ns)
	}
	created := map[types.NamespacedName]bool{}
	for _, p := range probes {
		key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
		if created[key] {
			continue
		}
		if _, err := k.client.CoreV1().Pods(p.Namespace).Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create probe %s: %v", key, err)
		}
		created[key] = true
	}
	for key := range created {
		k.waitForAgent(t, key.Namespace, key.Name)
	}
}

// ensureNamespace creates the namespace, or adds its labels to the one
// that exists.
func (k *kube) ensureNamespace(t *testing.T, ns *corev1.Namespace) {
	t.Helper()
	namespaces := k.client.CoreV1().Namespaces()
	existing, err := namespaces.Get(t.Context(), ns.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := namespaces.Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create namespace %s: %v", ns.Name, err)
		}
	case err != nil:
		t.Fatal(err)
	case !labels.SelectorFromSet(ns.Labels).Matches(labels.Set(existing.Labels)):
		existing.Labels = labels.Merge(existing.Labels, ns.Labels)
		if _, err := namespaces.Update(t.Context(), existing, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("label namespace %s: %v", ns.Name, err)
		}
	}
}

// snapshot lists every Namespace, Pod and NetworkPolicy of the cluster, as
// the API server stores them: defaulted, admitted, with the pods' addresses.
func (k *kube) snapshot(t *testing.T) reachability.Snapshot {
	t.Helper()
	ctx := t.Context()
	namespaces, err := k.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list namespaces: %v", err)
	}
	pods, err := k.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	policies, err := k.client.NetworkingV1().NetworkPolicies(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list network policies: %v", err)
	}
	return reachability.Snapshot{Namespaces: namespaces.Items, Pods: pods.Items, NetworkPolicies: policies.Items}
}

// patchPaymentsPolicy applies a JSON patch to the NetworkPolicy that admits
// calls to the stack's payments pods, and puts the original back when the
// test ends.
func (k *kube) patchPaymentsPolicy(t *testing.T, v *isolationView, patch string) {
	t.Helper()
	policies := k.client.NetworkingV1().NetworkPolicies(v.payments.Namespace)
	list, err := policies.List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var original *networkingv1.NetworkPolicy
	for i, p := range list.Items {
		selector, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Spec.Ingress) > 0 && !selector.Empty() && selector.Matches(labels.Set(v.payments.Spec.Template.Labels)) {
			original = &list.Items[i]
		}
	}
	if original == nil {
		t.Fatalf("no NetworkPolicy in %s admits calls to the payments pods", v.payments.Namespace)
	}
	if _, err := policies.Patch(t.Context(), original.Name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch NetworkPolicy %s/%s: %v", original.Namespace, original.Name, err)
	}
	t.Cleanup(func() {
		current, err := policies.Get(context.Background(), original.Name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("restore NetworkPolicy %s: %v", original.Name, err)
			return
		}
		current.Spec = original.Spec
		if _, err := policies.Update(context.Background(), current, metav1.UpdateOptions{}); err != nil {
			t.Errorf("restore NetworkPolicy %s: %v", original.Name, err)
		}
	})
}

func formatDiff(diff []reachability.Difference) string {
	var b bytes.Buffer
	for _, d := range diff {
		fmt.Fprintln(&b, d)
	}
	return b.String()
}
