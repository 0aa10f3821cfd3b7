package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/tinjis/tinjis/integration/controlplane"
	"github.com/tinjis/tinjis/integration/testimages"
	"github.com/tinjis/tinjis/internal/reachability"
)

// The connection agent (integration/cmd/probe) runs in every probe pod and,
// as an ephemeral container, in one pod of each product workload: it shares
// the pod's network, so its connections are the workload's. The test asks
// it over HTTP from the node, which NetworkPolicy engines always admit.
const (
	agentContainer = "probe"
	// probeTimeout bounds one connection attempt; a refused connection
	// answers at once, a dropped one takes all of it.
	probeTimeout = time.Second
	// measureTimeout bounds how long a cell may take to show its expected
	// verdict: the engine applies new pods and policies within a second or
	// two.
	measureTimeout = 20 * time.Second
)

// attachProbeAgents adds the agent as an ephemeral container to every pod
// of the Deployments and waits until each answers.
func (k *kube) attachProbeAgents(t *testing.T, deployments ...*appsv1.Deployment) {
	t.Helper()
	for _, d := range deployments {
		pods, err := k.client.CoreV1().Pods(d.Namespace).List(t.Context(), metav1.ListOptions{
			LabelSelector: labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String(),
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range pods.Items {
			pod := &pods.Items[i]
			if pod.DeletionTimestamp != nil {
				continue
			}
			pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name:            agentContainer,
					Image:           testimages.ProbeRef,
					ImagePullPolicy: corev1.PullNever,
					SecurityContext: restrictedContainer(),
				},
			})
			if _, err := k.client.CoreV1().Pods(pod.Namespace).UpdateEphemeralContainers(t.Context(), pod.Name, pod, metav1.UpdateOptions{}); err != nil {
				t.Fatalf("attach the probe agent to %s/%s: %v", pod.Namespace, pod.Name, err)
			}
			k.waitForAgent(t, pod.Namespace, pod.Name)
		}
	}
}

// restrictedContainer is a container security context that meets the
// restricted Pod Security level on its own.
func restrictedContainer() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To[int64](65532),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// waitForAgent waits until the pod has an address and its agent answers.
func (k *kube) waitForAgent(t *testing.T, namespace, name string) {
	t.Helper()
	controlplane.WaitUntil(t, waitTimeout, "the probe agent of "+namespace+"/"+name+" answers", func(ctx context.Context) (bool, error) {
		pod, err := k.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil || pod.Status.PodIP == "" {
			return false, err
		}
		resp, err := agentClient.Get(agentURL(pod, "/healthz"))
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

var agentClient = &http.Client{Timeout: probeTimeout + 5*time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func agentURL(pod *corev1.Pod, path string) string {
	return "http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(testimages.ProbePort)) + path
}

// agentProber asks the source pod's agent for one fresh connection: a TCP
// connection, or for UDP a DNS query (the only UDP service in the matrix).
func agentProber() reachability.Prober {
	return func(ctx context.Context, from *corev1.Pod, protocol corev1.Protocol, to netip.AddrPort) (bool, error) {
		query := url.Values{"timeout": {probeTimeout.String()}}
		path := "/dial?"
		switch protocol {
		case corev1.ProtocolTCP:
			query.Set("addr", to.String())
		case corev1.ProtocolUDP:
			path = "/dns?"
			query.Set("server", to.String())
			query.Set("name", "kubernetes.default.svc."+controlplane.ClusterDomain)
		default:
			return false, fmt.Errorf("no probe for protocol %s", protocol)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, agentURL(from, path+query.Encode()), nil)
		if err != nil {
			return false, err
		}
		resp, err := agentClient.Do(req)
		if err != nil {
			return false, fmt.Errorf("the agent in %s/%s: %w", from.Namespace, from.Name, err)
		}
		defer resp.Body.Close()
		var result struct {
			Connected bool `json:"connected"`
		}
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("the agent in %s/%s answered %s", from.Namespace, from.Name, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(&result); err != nil {
			return false, fmt.Errorf("the agent in %s/%s: %w", from.Namespace, from.Name, err)
		}
		return result.Connected, nil
	}
}

// serveOutsideAddress gives the sandbox's network outsideAddress and
// accepts connections on it on 443, standing for a host on the internet.
func serveOutsideAddress(t *testing.T) {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	address := &netlink.Addr{IPNet: netlink.NewIPNet(net.IP(outsideAddress.AsSlice()))}
	if err := netlink.AddrAdd(lo, address); err != nil {
		t.Fatalf("add %s to lo: %v", outsideAddress, err)
	}
	listener, err := net.Listen("tcp", netip.AddrPortFrom(outsideAddress, 443).String())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	t.Cleanup(func() {
		listener.Close()
		if err := netlink.AddrDel(lo, address); err != nil {
			t.Errorf("remove %s from lo: %v", outsideAddress, err)
		}
	})
}

// workloads are the stack's own Deployments, whose pods are sources.
func (v *isolationView) workloads() []*appsv1.Deployment {
	return []*appsv1.Deployment{v.antaeusWorkload, v.payments}
}

// measure probes every cell of the view with real connections.
func (v *isolationView) measure(t *testing.T, s reachability.Snapshot, prober reachability.Prober, expect reachability.Matrix) reachability.Matrix {
	t.Helper()
	m, err := s.Measure(t.Context(), v.sources, v.destinations, prober, expect, measureTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
