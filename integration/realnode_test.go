package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/outputs"
	"github.com/tinjis/tinjis/infra/stack"
	"github.com/tinjis/tinjis/integration/controlplane"
	"github.com/tinjis/tinjis/integration/internal/pulumistack"
	"github.com/tinjis/tinjis/integration/internal/repo"
)

// TestTheReviewersTestOnARealNode is the challenge's own test, automated on
// a real node: deploy the README's quick start stack as committed
// (Pulumi.local.yaml: the Antaeus stand-in and payments from make images'
// archives, Antaeus on a node port), run the README's curl lines, call
// Antaeus's POST /rest/v1/invoices/pay until the invoices are paid, and
// judge the success rate; then what a platform engineer asks next: are the
// pods Ready because their probes pass, do they run as non-root, does a
// rollout under traffic lose a charge, what does Antaeus see when payments
// dies.
func TestTheReviewersTestOnARealNode(t *testing.T) {
	started := time.Now()
	cp := controlplane.StartForTest(t)
	t.Logf("cluster with a real node ready in %s", time.Since(started).Round(time.Millisecond))
	k := newKube(t, cp)
	sampleMemory(t, k)

	// The committed stack file; only its cluster is the test's.
	s := &liveStack{name: pulumistack.QuickStartStack, stack: pulumistack.New(t, pulumistack.QuickStartStack)}
	committedSalt := pulumistack.EncryptionSalt(t, s.stack)
	pulumistack.Apply(t, s.stack, clusterOnly(cp)...)
	s.cfg = loadConfig(t, s)
	var antaeusURL string

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"pulumi up puts both services on the node", func(t *testing.T) {
			upStarted, timeline := time.Now(), followUp(t, k)
			var out bytes.Buffer
			result, err := s.stack.Up(t.Context(), optup.ProgressStreams(&out))
			if err != nil {
				t.Fatalf("pulumi up: %v\n%s", err, out.String())
			}
			t.Logf("pulumi up %s onto the real node: %s", s.name, time.Since(upStarted).Round(time.Millisecond))
			timeline.report(t)
			if s.objects, err = pulumistack.Objects(t.Context(), s.stack); err != nil {
				t.Fatal(err)
			}
			url, ok := result.Outputs[outputs.AntaeusURL].Value.(string)
			if !ok {
				t.Fatalf("the stack has no %s output: %v", outputs.AntaeusURL, result.Outputs)
			}
			antaeusURL = strings.Replace(url, "<node-address>", controlplane.NodeIP, 1)
		}},
		{"the README's curl lines work on the node port, and the stack file keeps its salt", func(t *testing.T) {
			if salt := pulumistack.EncryptionSalt(t, s.stack); committedSalt == "" || salt != committedSalt {
				t.Errorf("the engine changed the stack file's salt from %q to %q: make up would write into Pulumi.%s.yaml", committedSalt, salt, s.name)
			}
			runQuickStartLines(t, antaeusURL, s.cfg.Expose.NodePort)
		}},
		{"every pod is Ready because kubelet's probes passed", func(t *testing.T) {
			for _, service := range config.Services {
				d := k.stackDeployment(t, s, service)
				k.waitAvailable(t, d.Namespace, d.Name)
				k.checkAvailable(t, k.stackDeployment(t, s, service))
			}
			checkProbesPassed(t, k, s)
		}},
		{"every container of the restricted namespace runs as non-root", func(t *testing.T) {
			namespace := k.stackDeployment(t, s, config.ServicePayments).Namespace
			checkRunsAsNonRoot(t, k, namespace)
		}},
		{"cmd/acceptance passes against Antaeus's node port, and payments counted the same charges", func(t *testing.T) {
			payments := k.stackDeployment(t, s, config.ServicePayments)
			reseedIfAllPaid(t, k, k.stackDeployment(t, s, config.ServiceAntaeus), antaeusURL)
			before := chargesCounted(t, k, payments.Namespace, payments.Spec.Selector.MatchLabels)
			paid, charges := runAcceptance(t, antaeusURL, s.cfg.Payments.Server.SuccessRate)
			after := chargesCounted(t, k, payments.Namespace, payments.Spec.Selector.MatchLabels)
			t.Logf("acceptance: %d paid of %d charges; payments counted %d paid, %d declined", paid, charges,
				after.paid-before.paid, after.declined-before.declined)
			if got := after.paid - before.paid; got != paid {
				t.Errorf("payments counted %d paid charges, Antaeus's invoices show %d", got, paid)
			}
			if got := after.paid + after.declined - before.paid - before.declined; got != charges {
				t.Errorf("payments counted %d charges, the acceptance run made %d", got, charges)
			}
		}},
		{"a rolling update of payments under steady charges through its Service fails none", func(t *testing.T) {
			payments := k.stackDeployment(t, s, config.ServicePayments)
			load := startChargeLoad(t, serviceURL(t, k, payments))
			load.waitForCharges(t, 20)
			k.restartRollout(t, payments)
			k.waitRolledOut(t, payments)
			// Traffic goes on after the rollout, to the new pods only.
			load.waitForCharges(t, load.sent()+20)
			sent, failed := load.stop()
			t.Logf("charges sent during the rollout: %d, failed: %d", sent, len(failed))
			if len(failed) > 0 {
				t.Errorf("%d of %d charges failed during the rollout, the first: %v", len(failed), sent, failed[0])
			}
		}},
		{"a readiness probe on a wrong path keeps the new pod unready while the old one serves", func(t *testing.T) {
			payments := k.stackDeployment(t, s, config.ServicePayments)
			k.patchDeployment(t, payments, `[{"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/path", "value": "/no-such-path"}]`)
			// Pods draining after the rollout above fail readiness with 503 on
			// purpose; the wrong path answers 404.
			failure := k.waitForEvent(t, payments.Namespace, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 404")
			t.Logf("kubelet on %s: %s", failure.InvolvedObject.Name, failure.Message)
			pod, err := k.client.CoreV1().Pods(payments.Namespace).Get(t.Context(), failure.InvolvedObject.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if path := pod.Spec.Containers[0].ReadinessProbe.HTTPGet.Path; path != "/no-such-path" {
				t.Errorf("the failing pod probes %s, not the wrong path", path)
			}
			if podReady(pod) {
				t.Errorf("pod %s is Ready though its readiness probe fails", pod.Name)
			}
			if ready, err := controlplane.ReadyEndpoints(t.Context(), k.client, payments.Namespace, serviceOf(t, k, payments).Name); err != nil || ready != int(*payments.Spec.Replicas) {
				t.Errorf("payments' Service has %d ready endpoints (%v), want the %d old pods", ready, err, *payments.Spec.Replicas)
			}
			k.patchDeployment(t, payments, `[{"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/path", "value": "`+
				payments.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Path+`"}]`)
			k.waitRolledOut(t, payments)
		}},
		{"when payments' pods are deleted, Antaeus's /pay answers 500 and changes no invoice", func(t *testing.T) {
			antaeus := k.stackDeployment(t, s, config.ServiceAntaeus)
			payments := k.stackDeployment(t, s, config.ServicePayments)
			// A new Antaeus pod starts with fresh PENDING invoices.
			k.deletePods(t, antaeus, 30)
			k.waitRolledOut(t, antaeus)
			waitForAntaeus(t, antaeusURL)
			before := antaeusInvoices(t, antaeusURL)

			k.scale(t, payments, 0)
			// Gone from the data plane, not only from the API: kube-proxy
			// refuses connections to a Service without endpoints.
			paymentsURL := serviceURL(t, k, payments)
			client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			controlplane.WaitUntil(t, waitTimeout, "payments' Service refuses charges", func(ctx context.Context) (bool, error) {
				return charge(ctx, client, paymentsURL) != nil, nil
			})
			status, body := payAntaeus(t, antaeusURL)
			after := antaeusInvoices(t, antaeusURL)
			t.Logf("POST /rest/v1/invoices/pay with payments gone: %d %q", status, body)
			if status != http.StatusInternalServerError || body != "" {
				t.Errorf("Antaeus answered %d %q, want 500 with an empty body", status, body)
			}
			if diff := changedInvoices(before, after); len(diff) > 0 {
				t.Errorf("invoices changed though no charge went through: %v", diff)
			}

			k.scale(t, payments, *payments.Spec.Replicas)
			k.waitRolledOut(t, payments)
			controlplane.WaitUntil(t, waitTimeout, "payments' Service answers charges", func(ctx context.Context) (bool, error) {
				return charge(ctx, client, paymentsURL) == nil, nil
			})
			// The node reaches the new pods at once; Antaeus only once the
			// enforcer has added them to the sets of both namespaces'
			// policies, about a second later.
			controlplane.WaitUntil(t, waitTimeout, "Antaeus's /pay answers 200 once payments is back", func(context.Context) (bool, error) {
				status, body = payAntaeus(t, antaeusURL)
				if status != http.StatusOK {
					t.Logf("/pay answered %d %q", status, body)
				}
				return status == http.StatusOK, nil
			})
		}},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			t.FailNow()
		}
	}
}

// waitAvailable waits until the Deployment has all its replicas updated and
// available.
func (k *kube) waitAvailable(t *testing.T, namespace, name string) {
	t.Helper()
	controlplane.WaitUntil(t, waitTimeout, "Deployment "+namespace+"/"+name+" available", func(ctx context.Context) (bool, error) {
		d, err := k.client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return controlplane.RolledOut(d), nil
	})
}

// checkProbesPassed asserts that kubelet ran every container's readiness
// probe and counted successes: Ready came from a probe, not from a
// container that merely started.
func checkProbesPassed(t *testing.T, k *kube, s *liveStack) {
	t.Helper()
	metrics, err := controlplane.KubeletProbeMetrics(t.Context(), k.client)
	if err != nil {
		t.Fatal(err)
	}
	successes := map[string]float64{}
	for _, m := range metrics["prober_probe_total"].GetMetric() {
		l := labelsOf(m)
		if l["probe_type"] == "Readiness" && l["result"] == "successful" {
			successes[l["namespace"]+"/"+l["pod"]+"/"+l["container"]] += m.GetCounter().GetValue()
		}
	}
	for _, namespace := range s.namespaces() {
		pods, err := k.client.CoreV1().Pods(namespace).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, pod := range pods.Items {
			for _, c := range pod.Spec.Containers {
				key := namespace + "/" + pod.Name + "/" + c.Name
				switch {
				case c.ReadinessProbe == nil:
					t.Errorf("container %s has no readiness probe", key)
				case successes[key] == 0:
					t.Errorf("kubelet counted no successful readiness probe of %s", key)
				default:
					t.Logf("%s: %v successful readiness probes (%s %s)", key, successes[key], c.ReadinessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Port.String())
				}
			}
		}
	}
}

func labelsOf(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, pair := range m.GetLabel() {
		l[pair.GetName()] = pair.GetValue()
	}
	return l
}

// checkRunsAsNonRoot asserts that the kernel runs every process of every
// container of the namespace under a user id other than 0.
func checkRunsAsNonRoot(t *testing.T, k *kube, namespace string) {
	t.Helper()
	pods, err := k.client.CoreV1().Pods(namespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatalf("namespace %s has no pods", namespace)
	}
	for _, pod := range pods.Items {
		for _, status := range pod.Status.ContainerStatuses {
			uids, err := controlplane.ContainerUIDs(status.ContainerID)
			if err != nil {
				t.Fatalf("pod %s/%s container %s: %v", namespace, pod.Name, status.Name, err)
			}
			for _, uid := range uids {
				if uid == 0 {
					t.Errorf("pod %s/%s container %s runs a process as root", namespace, pod.Name, status.Name)
				}
			}
			t.Logf("pod %s/%s container %s runs as uid %v", namespace, pod.Name, status.Name, uids)
		}
	}
}

// chargeCounts are payments' own counts of answered charges.
type chargeCounts struct{ paid, declined int }

// chargesCounted sums payments_charges_total over the ready pods matching
// selector, read from /metrics on each pod's metrics port.
func chargesCounted(t *testing.T, k *kube, namespace string, selector map[string]string) chargeCounts {
	t.Helper()
	pods, err := k.client.CoreV1().Pods(namespace).List(t.Context(), metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selector).String()})
	if err != nil {
		t.Fatal(err)
	}
	var counts chargeCounts
	for _, pod := range pods.Items {
		if pod.Status.PodIP == "" || pod.DeletionTimestamp != nil {
			continue
		}
		metrics := namedContainerPort(t, "pod "+pod.Namespace+"/"+pod.Name, pod.Spec, stack.MetricsPortName)
		url := "http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(metrics.ContainerPort))) + "/metrics"
		families := scrape(t, url)
		for _, m := range families["payments_charges_total"].GetMetric() {
			switch labelsOf(m)["outcome"] {
			case "paid":
				counts.paid += int(m.GetCounter().GetValue())
			case "declined":
				counts.declined += int(m.GetCounter().GetValue())
			}
		}
	}
	return counts
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("metrics of %s: %v", url, err)
	}
	return families
}

// acceptanceSummary is the line cmd/acceptance prints with its estimate.
var acceptanceSummary = regexp.MustCompile(`Success rate: (\d+) paid of (\d+) charges`)

// runAcceptance runs cmd/acceptance as a reviewer does and returns the
// paid charges and all charges it reports; it fails the test unless the
// command passes.
func runAcceptance(t *testing.T, url string, rate float64) (paid, charges int) {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	binary := t.TempDir() + "/acceptance"
	build := exec.CommandContext(t.Context(), "go", "build", "-o", binary, "./cmd/acceptance")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/acceptance: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "--url", url, "--rate", strconv.FormatFloat(rate, 'g', -1, 64), "--health-timeout", "2m")
	out, err := cmd.CombinedOutput()
	t.Logf("cmd/acceptance --url %s:\n%s", url, out)
	if err != nil {
		t.Fatalf("cmd/acceptance failed: %v", err)
	}
	m := acceptanceSummary.FindSubmatch(out)
	if m == nil || !bytes.HasSuffix(bytes.TrimSpace(out), []byte("PASS")) {
		t.Fatalf("cmd/acceptance did not print its summary and PASS")
	}
	paid, _ = strconv.Atoi(string(m[1]))
	charges, _ = strconv.Atoi(string(m[2]))
	return paid, charges
}

// serviceOf is the Service selecting the Deployment's pods.
func serviceOf(t *testing.T, k *kube, d *appsv1.Deployment) *corev1.Service {
	t.Helper()
	svc, err := serviceSelecting(t.Context(), k, d)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// serviceURL is the URL of the Deployment's Service at its cluster IP.
func serviceURL(t *testing.T, k *kube, d *appsv1.Deployment) string {
	t.Helper()
	svc := serviceOf(t, k, d)
	return "http://" + net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port))) + "/"
}

// restartRollout rolls the Deployment's pods as `kubectl rollout restart`
// does.
func (k *kube) restartRollout(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
	if _, err := k.client.AppsV1().Deployments(d.Namespace).Patch(t.Context(), d.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("restart %s/%s: %v", d.Namespace, d.Name, err)
	}
}

func (k *kube) patchDeployment(t *testing.T, d *appsv1.Deployment, jsonPatch string) {
	t.Helper()
	if _, err := k.client.AppsV1().Deployments(d.Namespace).Patch(t.Context(), d.Name, types.JSONPatchType, []byte(jsonPatch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch %s/%s: %v", d.Namespace, d.Name, err)
	}
}

// waitRolledOut waits until the Deployment's latest template runs on all
// its replicas, every one available, and no pod of an older template is
// left.
func (k *kube) waitRolledOut(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	k.waitAvailable(t, d.Namespace, d.Name)
	controlplane.WaitUntil(t, waitTimeout, "only pods of the latest template of "+d.Name+" remain", func(ctx context.Context) (bool, error) {
		current, err := k.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pods, err := k.client.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String()})
		if err != nil {
			return false, err
		}
		return len(pods.Items) == int(*current.Spec.Replicas), nil
	})
}

// scale sets the Deployment's replicas, as `kubectl scale` does.
func (k *kube) scale(t *testing.T, d *appsv1.Deployment, replicas int32) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	if _, err := k.client.AppsV1().Deployments(d.Namespace).Patch(t.Context(), d.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("scale %s/%s to %d: %v", d.Namespace, d.Name, replicas, err)
	}
}

// deletePods deletes every pod of the Deployment with the grace period
// given, in seconds, and waits until they are gone.
func (k *kube) deletePods(t *testing.T, d *appsv1.Deployment, gracePeriod int64) {
	t.Helper()
	selector := metav1.ListOptions{LabelSelector: labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String()}
	pods, err := k.client.CoreV1().Pods(d.Namespace).List(t.Context(), selector)
	if err != nil {
		t.Fatalf("list the pods of %s/%s: %v", d.Namespace, d.Name, err)
	}
	if err := k.client.CoreV1().Pods(d.Namespace).DeleteCollection(t.Context(), metav1.DeleteOptions{GracePeriodSeconds: &gracePeriod}, selector); err != nil {
		t.Fatalf("delete the pods of %s/%s: %v", d.Namespace, d.Name, err)
	}
	// A terminating pod can still answer through its Service for a moment
	// after its replacement is Ready; only once it is gone does every answer
	// come from the new pods.
	controlplane.WaitUntil(t, waitTimeout, "the deleted pods of "+d.Namespace+"/"+d.Name+" are gone", func(ctx context.Context) (bool, error) {
		for _, old := range pods.Items {
			pod, err := k.client.CoreV1().Pods(d.Namespace).Get(ctx, old.Name, metav1.GetOptions{})
			if err == nil && pod.UID == old.UID {
				return false, nil
			}
			if err != nil && !apierrors.IsNotFound(err) {
				return false, err
			}
		}
		return true, nil
	})
}

// waitForEvent waits for an event of the namespace with the reason and a
// message containing text, and returns it.
func (k *kube) waitForEvent(t *testing.T, namespace, reason, text string) corev1.Event {
	t.Helper()
	var found corev1.Event
	controlplane.WaitUntil(t, waitTimeout, "a "+reason+" event in "+namespace, func(ctx context.Context) (bool, error) {
		events, err := k.client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: "reason=" + reason})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if strings.Contains(e.Message, text) {
				found = e
				return true, nil
			}
		}
		return false, nil
	})
	return found
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// stockCharge is the body the stock Antaeus sends (see the contract).
const stockCharge = `{"currency":{},"customer_id":1,"value":356.72}`

// chargeLoad sends charges one after another, each on a new connection, as
// the stock Antaeus would after a connection of its was closed.
type chargeLoad struct {
	count  atomic.Int64
	mu     sync.Mutex
	failed []error
	cancel context.CancelFunc
	done   chan struct{}
}

// maxLoadCharges bounds a load run, whatever happens to its stop.
const maxLoadCharges = 200_000

func startChargeLoad(t *testing.T, url string) *chargeLoad {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	l := &chargeLoad{cancel: cancel, done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil && l.count.Load() < maxLoadCharges {
			err := charge(ctx, client, url)
			if ctx.Err() != nil {
				return // stopped mid-charge: not a failure of the service
			}
			l.count.Add(1)
			if err != nil {
				l.mu.Lock()
				l.failed = append(l.failed, err)
				l.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { l.stop() })
	return l
}

func charge(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(stockCharge))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var answer struct {
		Result *bool `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || answer.Result == nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answer %s without a result (%v)", resp.Status, err)
	}
	return nil
}

func (l *chargeLoad) sent() int { return int(l.count.Load()) }

// waitForCharges waits until n charges were answered or failed.
func (l *chargeLoad) waitForCharges(t *testing.T, n int) {
	t.Helper()
	controlplane.WaitUntil(t, waitTimeout, fmt.Sprintf("%d charges sent", n), func(context.Context) (bool, error) {
		return l.sent() >= n, nil
	})
}

// stop ends the load and returns how many charges it sent and the failures.
func (l *chargeLoad) stop() (int, []error) {
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent(), l.failed
}

// antaeusClient bounds every call to Antaeus: a new pod's first packets
// can be dropped until the policy engine knows its address.
var antaeusClient = &http.Client{Timeout: 10 * time.Second}

// waitForAntaeus waits until Antaeus answers its health check through url.
func waitForAntaeus(t *testing.T, url string) {
	t.Helper()
	health := &http.Client{Timeout: 2 * time.Second}
	controlplane.WaitUntil(t, waitTimeout, "Antaeus answers at "+url, func(context.Context) (bool, error) {
		resp, err := health.Get(strings.TrimSuffix(url, "/") + "/rest/health")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// antaeusInvoice is an element of Antaeus's GET /rest/v1/invoices.
type antaeusInvoice struct {
	ID     int    `json:"id"`
	Status string `json:"status"`
}

func antaeusInvoices(t *testing.T, base string) map[int]string {
	t.Helper()
	statuses, err := invoiceStatuses(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	return statuses
}

// payAntaeus calls POST /rest/v1/invoices/pay and returns the answer.
func payAntaeus(t *testing.T, base string) (int, string) {
	t.Helper()
	status, body, err := pay(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

// changedInvoices lists the invoices whose status differs.
func changedInvoices(before, after map[int]string) []string {
	var changed []string
	for id, status := range after {
		if before[id] != status {
			changed = append(changed, fmt.Sprintf("invoice %d %s -> %s", id, before[id], status))
		}
	}
	return changed
}
