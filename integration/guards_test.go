package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/stack"
	"github.com/tinjis/tinjis/integration/controlplane"
	"github.com/tinjis/tinjis/internal/fakeantaeus"
)

// neighbour has the built-in edit role in the default namespace, which
// has no Pod Security labels: what a team sharing the cluster gets.
const neighbour = "neighbour@example.com"

// neighbourAttempt is one thing the neighbour tries, as a create request.
type neighbourAttempt struct {
	action   string
	expected outcome
	// marker starts the guard's message that must refuse it.
	marker string
	// chargesAfter asks Antaeus to charge payments after the attempt
	// (its fake holds eight pending invoices: a few checks only).
	chargesAfter bool
	create       func(ctx context.Context, c kubernetes.Interface, opts metav1.CreateOptions) error
}

// checkClusterGuards has the neighbour try to put a pod on the node's
// network (or its PID namespace, or a host port) and to take payments'
// address with a Service's externalIPs, while Antaeus charges payments
// after every attempt. The guards are cluster-wide: the stack that turns
// them on protects the other stack's payments too.
func checkClusterGuards(t *testing.T, cp *controlplane.ControlPlane, k *kube, stacks []*liveStack) {
	guarded := ""
	for _, s := range stacks {
		if s.cfg.ClusterGuards != nil {
			guarded = s.name
		}
	}
	if guarded == "" {
		t.Fatal("no committed stack turns the cluster guards on")
	}
	for _, s := range stacks {
		for _, o := range s.objects {
			if o.Kind == "ValidatingAdmissionPolicy" {
				k.checkTypeChecked(t, o.Name)
			}
		}
	}
	target := stacks[0]
	payments := serviceOf(t, k, k.stackDeployment(t, target, config.ServicePayments))
	antaeusURL := serviceURL(t, k, k.stackDeployment(t, target, config.ServiceAntaeus))
	client := k.neighbourClient(t, cp)
	waitForAntaeus(t, antaeusURL)
	// The step before restores payments' policy; the node applies it
	// within a second or two.
	controlplane.WaitUntil(t, waitTimeout, "Antaeus charges payments", func(context.Context) (bool, error) {
		status, _, charged := payAntaeusIfPending(t, antaeusURL)
		return !charged || status == http.StatusOK, nil
	})

	hostPod := func(name string, host func(*corev1.Pod)) func(context.Context, kubernetes.Interface, metav1.CreateOptions) error {
		return func(ctx context.Context, c kubernetes.Interface, opts metav1.CreateOptions) error {
			pod := probePod(metav1.NamespaceDefault, name, probeLabels)
			host(pod)
			_, err := c.CoreV1().Pods(pod.Namespace).Create(ctx, pod, opts)
			return err
		}
	}
	service := func(name string, externalIPs []string) func(context.Context, kubernetes.Interface, metav1.CreateOptions) error {
		return func(ctx context.Context, c kubernetes.Interface, opts metav1.CreateOptions) error {
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: name},
				Spec: corev1.ServiceSpec{
					Selector:    probeLabels,
					Ports:       payments.Spec.Ports,
					ExternalIPs: externalIPs,
				},
			}
			for i := range svc.Spec.Ports {
				svc.Spec.Ports[i].NodePort = 0
			}
			_, err := c.CoreV1().Services(svc.Namespace).Create(ctx, svc, opts)
			return err
		}
	}
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	attempts := []struct {
		neighbourAttempt
		opts metav1.CreateOptions
	}{
		{neighbourAttempt{"run an ordinary pod (dry run)", admitted, "", false, hostPod("ordinary", func(*corev1.Pod) {})}, dryRun},
		{neighbourAttempt{"run a hostNetwork pod", refusedByPolicy, stack.HostAccessMarker, true,
			hostPod("host-network", func(p *corev1.Pod) { p.Spec.HostNetwork = true })}, metav1.CreateOptions{}},
		{neighbourAttempt{"run a pod with a hostPort", refusedByPolicy, stack.HostAccessMarker, false,
			hostPod("host-port", func(p *corev1.Pod) {
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 18080}}
			})}, metav1.CreateOptions{}},
		{neighbourAttempt{"run a hostPID pod", refusedByPolicy, stack.HostAccessMarker, false,
			hostPod("host-pid", func(p *corev1.Pod) { p.Spec.HostPID = true })}, metav1.CreateOptions{}},
		{neighbourAttempt{"create an ordinary Service (dry run)", admitted, "", false, service("ordinary", nil)}, dryRun},
		{neighbourAttempt{"create a Service with externalIPs = " + payments.Namespace + "'s ClusterIP", refusedByPolicy, stack.ExternalIPsMarker, true,
			service("takes-payments", []string{payments.Spec.ClusterIP})}, metav1.CreateOptions{}},
	}
	// The guards are enforced about a second after their creation; they
	// were created at the start of the guarded stack's pulumi up, which
	// then waited for its Deployments. No wait here: one would hide a
	// guard that admits everything.
	var rows []attack
	for _, a := range attempts {
		err := a.create(t.Context(), client, a.opts)
		observed, message := answer(err)
		rows = append(rows, attack{attacker: neighbour + " (edit in default)", target: "the cluster (guards of " + guarded + ")", action: a.action, expected: a.expected, observed: observed, message: message})
		if a.expected == refusedByPolicy && observed == refusedByPolicy && !strings.Contains(message, a.marker) {
			t.Errorf("%s was refused without naming %q:\n%s", a.action, a.marker, message)
		}
		if a.chargesAfter {
			checkAntaeusCharges(t, antaeusURL, "after: "+a.action)
		}
	}
	logAttacks(t, "A neighbour's attempts on the cluster around the stacks", rows)
}

// answer classifies an API error as the attack table shows it.
func answer(err error) (outcome, string) {
	switch {
	case err == nil:
		return admitted, ""
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy"):
		return refusedByPolicy, err.Error()
	case apierrors.IsForbidden(err):
		return forbiddenByRBAC, err.Error()
	}
	return outcome("failed: " + err.Error()), err.Error()
}

// neighbourClient gives the neighbour the edit role in default and returns
// a client with the neighbour's credentials.
func (k *kube) neighbourClient(t *testing.T, cp *controlplane.ControlPlane) kubernetes.Interface {
	t.Helper()
	if _, err := cp.AddUser(neighbour); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "neighbour-edit"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: neighbour}},
	}
	if _, err := k.client.RbacV1().RoleBindings(binding.Namespace).Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rest, err := cp.RESTConfig(neighbour)
	if err != nil {
		t.Fatal(err)
	}
	return kubernetes.NewForConfigOrDie(rest)
}

// checkAntaeusCharges asks Antaeus to pay its pending invoices: a 200 means
// payments answered its charges (a decline answers false, still a 200); a
// charge that cannot reach payments answers 500. With no invoice pending,
// nothing is charged and nothing is checked.
func checkAntaeusCharges(t *testing.T, antaeusURL, when string) {
	t.Helper()
	status, body, charged := payAntaeusIfPending(t, antaeusURL)
	if !charged {
		t.Logf("Antaeus has no pending invoice left to charge %s", when)
		return
	}
	t.Logf("Antaeus charges %s: /pay answered %d %s", when, status, body)
	if status != http.StatusOK {
		t.Errorf("Antaeus's charges failed %s: /pay answered %d %q", when, status, body)
	}
}

// payAntaeusIfPending calls /pay when an invoice is pending; charged
// reports whether it did.
func payAntaeusIfPending(t *testing.T, antaeusURL string) (status int, body string, charged bool) {
	t.Helper()
	for _, invoice := range antaeusInvoices(t, antaeusURL) {
		if invoice == fakeantaeus.StatusPending {
			status, body = payAntaeus(t, antaeusURL)
			return status, body, true
		}
	}
	return 0, "", false
}
