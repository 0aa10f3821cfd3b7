package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/integration/controlplane"
)

// followInterval is how often the timeline and the memory sampler look.
const followInterval = 100 * time.Millisecond

// upTimeline follows a `pulumi up` from its start, from a goroutine of its
// own: when each service's Deployment appears and its first pod turns Ready
// (the pod's condition, set by kubelet once the probes pass), and when
// Antaeus, called through its Service once Ready, first pays an invoice.
// It only reads the cluster and calls Antaeus's /pay, one call at a time.
type upTimeline struct {
	k      *kube
	start  time.Time
	done   chan struct{}
	events []timelineEvent
	err    error
	// antaeus and pendingLeft are Antaeus's Deployment and how many of its
	// invoices were still PENDING after the first paid one.
	antaeus     *appsv1.Deployment
	pendingLeft int
}

type timelineEvent struct {
	what  string
	after time.Duration
}

// followUp starts following; call it right before `pulumi up`.
func followUp(t *testing.T, k *kube) *upTimeline {
	tl := &upTimeline{k: k, start: time.Now(), done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	go func() {
		defer close(tl.done)
		defer cancel()
		tl.err = tl.follow(ctx, k)
	}()
	return tl
}

// report waits until Antaeus paid its first invoice, or the deadline
// passed, and prints the timeline; Antaeus never paying fails the test.
// Should that first /pay have paid every invoice (it pays until the first
// decline), Antaeus is restarted, which reseeds them, so that what comes
// next finds invoices to pay.
func (tl *upTimeline) report(t *testing.T) {
	t.Helper()
	<-tl.done
	for _, e := range tl.events {
		t.Logf("+%5.1fs after pulumi up started: %s", e.after.Seconds(), e.what)
	}
	if tl.err != nil {
		t.Fatalf("following pulumi up: %v", tl.err)
	}
	if tl.pendingLeft == 0 {
		t.Log("the first paid /pay paid every invoice: Antaeus restarts to reseed them")
		tl.k.deletePods(t, tl.antaeus, 30)
		tl.k.waitRolledOut(t, tl.antaeus)
	}
}

func (tl *upTimeline) record(what string) {
	tl.events = append(tl.events, timelineEvent{what: what, after: time.Since(tl.start)})
}

func (tl *upTimeline) follow(ctx context.Context, k *kube) error {
	antaeus, err := tl.untilReady(ctx, k)
	if err != nil {
		return err
	}
	tl.antaeus = antaeus
	svc, err := serviceSelecting(ctx, k, antaeus)
	if err != nil {
		return err
	}
	url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port)))
	var before map[int]string
	err = wait.PollUntilContextCancel(ctx, followInterval, true, func(ctx context.Context) (bool, error) {
		if before == nil {
			before, _ = invoiceStatuses(ctx, url) // nil until Antaeus answers
			return false, nil
		}
		if _, _, err := pay(ctx, url); err != nil {
			return false, nil
		}
		after, err := invoiceStatuses(ctx, url)
		if err != nil {
			return false, nil
		}
		for id, status := range after {
			if status == "PAID" && before[id] == "PENDING" {
				tl.record(fmt.Sprintf("first paid charge (Antaeus's invoice %d PENDING -> PAID)", id))
				for _, status := range after {
					if status == "PENDING" {
						tl.pendingLeft++
					}
				}
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("Antaeus paid no invoice: %w", err)
	}
	return nil
}

// untilReady records when each service's Deployment appears and when its
// first pod is Ready, and returns Antaeus's Deployment once both are.
func (tl *upTimeline) untilReady(ctx context.Context, k *kube) (*appsv1.Deployment, error) {
	created, ready := map[string]bool{}, map[string]bool{}
	var antaeus *appsv1.Deployment
	err := wait.PollUntilContextCancel(ctx, followInterval, true, func(ctx context.Context) (bool, error) {
		for _, d := range stackDeployments(ctx, k) {
			if !created[d.Name] {
				created[d.Name] = true
				tl.record(d.Name + "'s Deployment created")
			}
			if !ready[d.Name] && slices.ContainsFunc(deploymentPods(ctx, k, &d), podReady) {
				ready[d.Name] = true
				tl.record(d.Name + "'s first pod Ready")
			}
			if d.Name == string(config.ServiceAntaeus) {
				antaeus = &d
			}
		}
		return len(ready) == len(config.Services), nil
	})
	if err != nil {
		return nil, fmt.Errorf("not every service became Ready (%v of %v): %w", keys(ready), config.Services, err)
	}
	return antaeus, nil
}

// stackDeployments lists the Deployments named after a service, in any
// namespace; none when the API does not answer.
func stackDeployments(ctx context.Context, k *kube) []appsv1.Deployment {
	list, err := k.client.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var found []appsv1.Deployment
	for _, d := range list.Items {
		if slices.Contains(config.Services, config.Service(d.Name)) {
			found = append(found, d)
		}
	}
	return found
}

// deploymentPods lists the Deployment's pods; none when the API does not answer.
func deploymentPods(ctx context.Context, k *kube, d *appsv1.Deployment) []*corev1.Pod {
	list, err := k.client.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String(),
	})
	if err != nil {
		return nil
	}
	pods := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		pods[i] = &list.Items[i]
	}
	return pods
}

// serviceSelecting is the Service selecting the Deployment's pods.
func serviceSelecting(ctx context.Context, k *kube, d *appsv1.Deployment) (*corev1.Service, error) {
	services, err := k.client.CoreV1().Services(d.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i, svc := range services.Items {
		if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			return &services.Items[i], nil
		}
	}
	return nil, fmt.Errorf("no Service selects the pods of %s/%s", d.Namespace, d.Name)
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// memorySampler follows the working set of every container of the
// services' pods, from each container's memory cgroup, for as long as the
// test runs, and prints each service's peak when it ends. Pods replaced
// during the test (rollouts, deletions) are followed too.
type memorySampler struct {
	peaks map[string]controlplane.Memory
	// cgroups caches each container's memory cgroup directory.
	cgroups map[string]string
}

// sampleMemory starts sampling; the peaks are printed when the test ends,
// once the sampler has stopped.
func sampleMemory(t *testing.T, k *kube) {
	s := &memorySampler{peaks: map[string]controlplane.Memory{}, cgroups: map[string]string{}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = wait.PollUntilContextCancel(ctx, followInterval, true, func(ctx context.Context) (bool, error) {
			s.sample(ctx, k)
			return false, nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, service := range config.Services {
			peak, ok := s.peaks[string(service)]
			if !ok {
				t.Logf("memory of %s: never sampled", service)
				continue
			}
			t.Logf("memory of %s over the test (its cgroups, every %v): peak working set %s, peak usage with page cache %s",
				service, followInterval, mebibytes(peak.WorkingSet), mebibytes(peak.PeakUsage))
		}
	})
}

func (s *memorySampler) sample(ctx context.Context, k *kube) {
	for _, d := range stackDeployments(ctx, k) {
		for _, pod := range deploymentPods(ctx, k, &d) {
			for _, status := range pod.Status.ContainerStatuses {
				if status.State.Running == nil || status.ContainerID == "" {
					continue
				}
				dir, ok := s.cgroups[status.ContainerID]
				if !ok {
					var err error
					if dir, err = controlplane.MemoryCgroup(status.ContainerID); err != nil {
						continue // not started yet, or already gone
					}
					s.cgroups[status.ContainerID] = dir
				}
				m, err := controlplane.ReadMemory(dir)
				if err != nil {
					continue
				}
				peak := s.peaks[d.Name]
				s.peaks[d.Name] = controlplane.Memory{WorkingSet: max(peak.WorkingSet, m.WorkingSet), PeakUsage: max(peak.PeakUsage, m.PeakUsage)}
			}
		}
	}
}

func mebibytes(bytes uint64) string {
	return strconv.FormatFloat(float64(bytes)/(1<<20), 'f', 1, 64) + " MiB"
}

// invoiceStatuses reads Antaeus's invoices: each one's status by id.
func invoiceStatuses(ctx context.Context, base string) (map[int]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/rest/v1/invoices", nil)
	if err != nil {
		return nil, err
	}
	resp, err := antaeusClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var invoices []antaeusInvoice
	if err := json.NewDecoder(resp.Body).Decode(&invoices); err != nil {
		return nil, fmt.Errorf("Antaeus's invoices: %w", err)
	}
	statuses := map[int]string{}
	for _, i := range invoices {
		statuses[i.ID] = i.Status
	}
	return statuses, nil
}

// pay calls Antaeus's POST /rest/v1/invoices/pay.
func pay(ctx context.Context, base string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/rest/v1/invoices/pay", nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := antaeusClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}
