package rules

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/internal/reachability"
)

const isolationDescription = "The stack's NetworkPolicies allow exactly what its config intends, as the reachability " +
	"engine evaluates them: each payments port only from its own source (the charge port from this stack's Antaeus), " +
	"Antaeus only from its exposure source, every other pod of both namespaces shut in and out (default deny), " +
	"and egress only as declared (Antaeus to payments, DNS, and the internet when its image downloads at start)."

// The container ports the intent names, as the program names them. The pack
// states them rather than import infra/stack, which would link the whole
// Kubernetes SDK into the pack and slow every preview's start; a test holds
// them to the program's (stack.MetricsPortName).
const (
	// servicePortName is the port both services serve on: payments' charge
	// port, Antaeus's API.
	servicePortName = "http"
	// metricsPortName is the port payments serves /metrics on.
	metricsPortName = "metrics"
)

// The pods the matrix places around the stack, where a neighbour or an
// attacker would be; they are not part of the program.
const (
	// elsewhereNamespace is a namespace without policies of its own.
	elsewhereNamespace = "tinjis-policy-elsewhere"
	dnsPort            = 53
	// probedPort is a port no service declares, probed to catch a policy
	// that opens every port.
	probedPort = 8080
)

var (
	strangerLabels = map[string]string{"tinjis.policy/role": "stranger"}
	// kube-dns pods keep this label on every common distribution.
	dnsLabels = map[string]string{"k8s-app": "kube-dns"}
	// outsideAddress stands for the internet (TEST-NET-3).
	outsideAddress = netip.MustParseAddr("203.0.113.10")
)

// containerPorts matches the paths of a pod template's containers, of one
// container and of its ports: the only container values the matrix reads.
var containerPorts = regexp.MustCompile(`^spec\.template\.spec\.containers(\[\d+\](\.ports.*)?)?$`)

// isolation evaluates the NetworkPolicies the stack declares with the
// reachability engine and compares every cell of the matrix with the
// stack's intent. It applies when the stack declares anything in a service
// namespace.
func isolation(in Intent, resources []policyx.AnalyzerResource) []violation {
	objects, found := readStackObjects(in, resources)
	if len(found) > 0 || !objects.touched {
		return found
	}
	m, err := newIsolationMatrix(in, objects)
	if err != nil {
		return []violation{{"", err.Error()}}
	}
	got, err := m.snapshot.Evaluate(m.sources, m.destinations)
	if err != nil {
		return []violation{{"", "the reachability engine cannot evaluate the stack's NetworkPolicies: " + err.Error()}}
	}
	want, err := reachability.Expect(m.sources, m.destinations, m.allowed...)
	if err != nil {
		return []violation{{"", err.Error()}}
	}
	cells := map[string][]string{}
	var urns []string
	for _, d := range got.Diff(want) {
		urn := m.blame(d, objects)
		if _, seen := cells[urn]; !seen {
			urns = append(urns, urn)
		}
		cells[urn] = append(cells[urn], fmt.Sprintf("%s is %s; the stack intends %s", d.Pair, d.Got, d.Want))
	}
	for _, urn := range urns {
		found = append(found, violation{urn, strings.Join(cells[urn], "\n") + "\nThe matrix, as the declared policies allow it:\n" + got.String()})
	}
	return found
}

// stackObjects are the objects the matrix depends on, as the program
// declares them.
type stackObjects struct {
	namespaces map[string]corev1.Namespace
	policies   []declaredPolicy
	// deployments are the Deployments of each namespace, by name.
	deployments map[string][]appsv1.Deployment
	// namespaceURNs are the stack's Namespace resources.
	namespaceURNs map[string]string
	// touched: the stack declares something in a service namespace.
	touched bool
}

type declaredPolicy struct {
	urn    string
	policy networkingv1.NetworkPolicy
}

// readStackObjects decodes the Namespaces, NetworkPolicies and
// Deployments of the stack; any value the matrix depends on that is
// unknown at preview is reported instead of read.
func readStackObjects(in Intent, resources []policyx.AnalyzerResource) (stackObjects, []violation) {
	s := stackObjects{namespaces: map[string]corev1.Namespace{}, deployments: map[string][]appsv1.Deployment{}, namespaceURNs: map[string]string{}}
	services := []string{in.paymentsNamespace(), in.antaeusNamespace()}
	var found []violation
	for _, r := range resources {
		var needed []string
		switch r.Type {
		case typeNamespace:
			needed = []string{"metadata.name", "metadata.labels"}
		case typeNetworkPolicy:
			needed = []string{"metadata.namespace", "spec"}
		case typeDeployment:
			needed = []string{"metadata.namespace", "spec.selector", "spec.template.metadata.labels"}
		default:
			continue
		}
		o := newObject(r)
		unknown := o.unknownUnder(needed...)
		if r.Type == typeDeployment {
			for _, u := range o.unknownUnder("spec.template.spec.containers") {
				if containerPorts.MatchString(u) {
					unknown = append(unknown, u)
				}
			}
		}
		if len(unknown) > 0 {
			found = append(found, violation{r.URN, cannotVerify("who may reach whom", unknown)})
			continue
		}
		var err error
		var namespace string
		switch r.Type {
		case typeNamespace:
			var n corev1.Namespace
			err = o.decode(&n)
			n.Labels = namespaceLabels(n.Name, n.Labels)
			s.namespaces[n.Name], s.namespaceURNs[n.Name], namespace = n, r.URN, n.Name
		case typeNetworkPolicy:
			var p networkingv1.NetworkPolicy
			err = o.decode(&p)
			s.policies, namespace = append(s.policies, declaredPolicy{r.URN, p}), p.Namespace
		case typeDeployment:
			var d appsv1.Deployment
			err = o.decode(&d)
			s.deployments[d.Namespace], namespace = append(s.deployments[d.Namespace], d), d.Namespace
		}
		if err != nil {
			found = append(found, violation{r.URN, err.Error()})
		}
		s.touched = s.touched || slices.Contains(services, namespace)
	}
	return s, found
}

// isolationMatrix is the matrix around one stack and the cells its intent
// allows.
type isolationMatrix struct {
	snapshot     reachability.Snapshot
	sources      []reachability.Source
	destinations []reachability.Destination
	allowed      []reachability.Pair
	// namespaceOf is the namespace of each source and destination name
	// (empty: outside the cluster).
	namespaceOf map[string]string
}

// workloadPods are the pods a service's workload runs, and the ports they
// declare by name.
type workloadPods struct {
	pods  reachability.Pods
	ports map[string]corev1.ContainerPort
}

func newIsolationMatrix(in Intent, objects stackObjects) (*isolationMatrix, error) {
	m := &isolationMatrix{namespaceOf: map[string]string{}}
	paymentsNS, antaeusNS := in.paymentsNamespace(), in.antaeusNamespace()
	namespaces := maps.Clone(objects.namespaces)
	for _, ns := range []string{paymentsNS, antaeusNS, metav1.NamespaceSystem, elsewhereNamespace, metav1.NamespaceDefault} {
		if _, declared := namespaces[ns]; !declared {
			namespaces[ns] = corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: namespaceLabels(ns, nil)}}
		}
	}
	// The namespaces the config names sources by: they carry its labels.
	front, hasFront := frontNamespace(in.Config)
	monitoring, hasMonitoring := namespaceOf(in.Config.Payments.Metrics.From.NamespaceLabels, "tinjis-policy-monitoring")
	for _, source := range []corev1.Namespace{front, monitoring} {
		if source.Name != "" {
			namespaces[source.Name] = corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
				Name:   source.Name,
				Labels: namespaceLabels(source.Name, labels.Merge(namespaces[source.Name].Labels, source.Labels)),
			}}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(namespaces)) {
		m.snapshot.Namespaces = append(m.snapshot.Namespaces, namespaces[name])
	}
	for _, p := range objects.policies {
		m.snapshot.NetworkPolicies = append(m.snapshot.NetworkPolicies, p.policy)
	}

	payments, err := m.workload(objects, paymentsNS)
	if err != nil {
		return nil, err
	}
	antaeus, err := m.workload(objects, antaeusNS)
	if err != nil {
		return nil, err
	}
	paymentsStranger, err := m.probe(paymentsNS, "stranger", strangerLabels)
	if err != nil {
		return nil, err
	}
	antaeusStranger, err := m.probe(antaeusNS, "stranger", strangerLabels)
	if err != nil {
		return nil, err
	}
	spoof, err := m.probe(elsewhereNamespace, "antaeus-labels", antaeus.pods.Labels)
	if err != nil {
		return nil, err
	}
	neighbour, err := m.probe(metav1.NamespaceDefault, "neighbour", strangerLabels)
	if err != nil {
		return nil, err
	}
	dns, err := m.probe(metav1.NamespaceSystem, "dns", dnsLabels)
	if err != nil {
		return nil, err
	}

	antaeusRow := m.source("Antaeus", antaeus.pods)
	m.source("payments", payments.pods)
	m.source("another pod in "+paymentsNS, paymentsStranger)
	m.source("another pod in "+antaeusNS, antaeusStranger)
	spoofRow := m.source("Antaeus's labels in "+elsewhereNamespace, spoof)
	neighbourRow := m.source("a pod in "+metav1.NamespaceDefault, neighbour)
	openRows := []string{spoofRow, neighbourRow}
	var monitoringRow string
	if hasMonitoring {
		scraper, err := m.probe(monitoring.Name, "scraper", strangerLabels)
		if err != nil {
			return nil, err
		}
		monitoringRow = m.source("a pod in "+monitoring.Name+" (monitoring)", scraper)
		openRows = append(openRows, monitoringRow)
	}
	var frontRow string
	if hasFront {
		inFront, err := m.probe(front.Name, "front", strangerLabels)
		if err != nil {
			return nil, err
		}
		frontRow = m.source("a pod in "+front.Name+" (exposure)", inFront)
		openRows = append(openRows, frontRow)
	}

	paymentsPorts := m.portColumns("payments", payments)
	antaeusPorts := m.portColumns("Antaeus", antaeus)
	dnsUDP := m.destination(reachability.ToPods("DNS 53/udp", dns, corev1.ProtocolUDP, intstr.FromInt32(dnsPort)))
	dnsTCP := m.destination(reachability.ToPods("DNS 53/tcp", dns, corev1.ProtocolTCP, intstr.FromInt32(dnsPort)))
	internet := m.destination(reachability.ToAddress("internet :443", outsideAddress, corev1.ProtocolTCP, 443))

	// The intent; every cell not allowed here must be denied.
	allow := func(source string, destinations ...string) {
		for _, d := range destinations {
			if source != "" && d != "" {
				m.allowed = append(m.allowed, reachability.Pair{Source: source, Destination: d})
			}
		}
	}
	// Each payments port from its own source: the charge port from this
	// stack's Antaeus, the metrics port from the monitoring namespace (nobody
	// when none is configured). payments itself calls nothing.
	allow(antaeusRow, paymentsPorts[servicePortName])
	allow(monitoringRow, paymentsPorts[metricsPortName])
	// Antaeus from its exposure source only: anyone when a LoadBalancer or
	// node ports expose it, else the front namespace's pods.
	switch in.Config.Expose.Mode {
	case config.ExposeLoadBalancer, config.ExposeNodePort:
		for _, row := range openRows {
			allow(row, antaeusPorts[servicePortName])
		}
	default:
		allow(frontRow, antaeusPorts[servicePortName])
	}
	// Egress as declared: Antaeus resolves names, and reaches the internet
	// when its image downloads at start.
	allow(antaeusRow, dnsUDP, dnsTCP)
	if in.Config.Antaeus.Flavor.NeedsInternet() {
		allow(antaeusRow, internet)
	}
	// Pods of namespaces without policies: their egress is open, only the
	// destination's ingress decides.
	for _, row := range openRows {
		allow(row, dnsUDP, dnsTCP, internet)
	}
	return m, nil
}

// workload is the service's pods in ns, as its first Deployment starts
// them; a placeholder pod when the stack declares no Deployment there, so
// policies added to the namespace by any program are still evaluated.
func (m *isolationMatrix) workload(objects stackObjects, ns string) (workloadPods, error) {
	deployments := objects.deployments[ns]
	if len(deployments) == 0 {
		pods, err := m.probe(ns, "workload", map[string]string{"tinjis.policy/role": "workload"})
		return workloadPods{pods: pods}, err
	}
	d := slices.MinFunc(deployments, func(a, b appsv1.Deployment) int { return strings.Compare(a.Name, b.Name) })
	pod, err := reachability.PlannedPod(ns, d.Name, d.Spec.Template, len(m.snapshot.Pods))
	if err != nil {
		return workloadPods{}, err
	}
	m.snapshot.Pods = append(m.snapshot.Pods, pod)
	selector := d.Spec.Template.Labels
	if d.Spec.Selector != nil && len(d.Spec.Selector.MatchLabels) > 0 {
		selector = d.Spec.Selector.MatchLabels
	}
	w := workloadPods{pods: reachability.Pods{Namespace: ns, Labels: selector}, ports: map[string]corev1.ContainerPort{}}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			w.ports[p.Name] = p
		}
	}
	return w, nil
}

// probe adds a pod that is not part of the program.
func (m *isolationMatrix) probe(ns, name string, podLabels map[string]string) (reachability.Pods, error) {
	pod, err := reachability.PlannedPod(ns, name, corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels}}, len(m.snapshot.Pods))
	if err != nil {
		return reachability.Pods{}, err
	}
	m.snapshot.Pods = append(m.snapshot.Pods, pod)
	return reachability.Pods{Namespace: ns, Labels: podLabels}, nil
}

func (m *isolationMatrix) source(name string, pods reachability.Pods) string {
	m.sources = append(m.sources, reachability.Source{Name: name, Pods: pods})
	m.namespaceOf[name] = pods.Namespace
	return name
}

func (m *isolationMatrix) destination(d reachability.Destination) string {
	m.destinations = append(m.destinations, d)
	m.namespaceOf[d.Name] = d.Pods.Namespace
	return d.Name
}

// portColumns adds a destination per declared port of the workload, and
// one for a port it does not declare; it returns the columns by port name.
func (m *isolationMatrix) portColumns(service string, w workloadPods) map[string]string {
	columns := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(w.ports)) {
		p := w.ports[name]
		protocol := p.Protocol
		if protocol == "" {
			protocol = corev1.ProtocolTCP
		}
		columns[name] = m.destination(reachability.ToPods(fmt.Sprintf("%s %s:%d", service, name, p.ContainerPort), w.pods, protocol, intstr.FromInt32(p.ContainerPort)))
	}
	undeclared := int32(probedPort)
	for slices.ContainsFunc(slices.Collect(maps.Values(w.ports)), func(p corev1.ContainerPort) bool { return p.ContainerPort == undeclared }) {
		undeclared++
	}
	m.destination(reachability.ToPods(fmt.Sprintf("%s :%d (undeclared)", service, undeclared), w.pods, corev1.ProtocolTCP, intstr.FromInt32(undeclared)))
	return columns
}

// blame names the resource a wrong cell is about: for a cell allowed
// against the intent, the first policy without which it would not be, else
// the first policy of the destination's namespace (with no default deny,
// removing one policy changes nothing); else the destination's namespace,
// or the source's when the stack does not declare the destination's.
func (m *isolationMatrix) blame(d reachability.Difference, objects stackObjects) string {
	if d.Got == reachability.Allowed || d.Got == reachability.Mixed {
		for i, p := range objects.policies {
			if !p.in(m.namespaceOf[d.Destination], m.namespaceOf[d.Source]) {
				continue
			}
			without := m.snapshot
			without.NetworkPolicies = slices.Delete(slices.Clone(m.snapshot.NetworkPolicies), i, i+1)
			got, err := without.Evaluate(m.sources, m.destinations)
			if err == nil && got.Verdict(d.Source, d.Destination) != d.Got {
				return p.urn
			}
		}
	}
	if d.Got == reachability.Allowed || d.Got == reachability.Mixed {
		for _, p := range objects.policies {
			if p.in(m.namespaceOf[d.Destination]) {
				return p.urn
			}
		}
	}
	if urn, ok := objects.namespaceURNs[m.namespaceOf[d.Destination]]; ok {
		return urn
	}
	return objects.namespaceURNs[m.namespaceOf[d.Source]]
}

// in reports whether the policy sits in one of the namespaces.
func (p declaredPolicy) in(namespaces ...string) bool {
	return slices.Contains(namespaces, p.policy.Namespace)
}

// frontNamespace is the namespace Antaeus's exposure runs in, as the
// config selects it: the ingress controller's, or the gateway's data plane.
func frontNamespace(cfg config.Config) (corev1.Namespace, bool) {
	var nsLabels map[string]string
	switch cfg.Expose.Mode {
	case config.ExposeIngress:
		nsLabels = cfg.Expose.Ingress.ControllerNamespaceLabels
	case config.ExposeGateway:
		nsLabels = cfg.Expose.Gateway.DataPlaneNamespaceLabels
	}
	return namespaceOf(nsLabels, "tinjis-policy-front")
}

// namespaceOf is a namespace the labels select, named by its
// kubernetes.io/metadata.name label when they hold one, else name; none
// when there are no labels.
func namespaceOf(nsLabels map[string]string, name string) (corev1.Namespace, bool) {
	if len(nsLabels) == 0 {
		return corev1.Namespace{}, false
	}
	if n := nsLabels[corev1.LabelMetadataName]; n != "" {
		name = n
	}
	return corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: nsLabels}}, true
}
