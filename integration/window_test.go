package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/stack"
	"github.com/tinjis/tinjis/integration/controlplane"
	"github.com/tinjis/tinjis/integration/internal/pulumistack"
)

// teamChangeCycles is how many times the race adds and removes a developer.
const teamChangeCycles = 5

// newcomer is the developer the race adds to payments and removes again.
const newcomer = "dave@tinjis.example.com"

// forbiddenChanges are what the newcomer hammers: each is refused by the
// policy whenever he has RBAC rights, and by RBAC otherwise.
var forbiddenChanges = []struct{ kind, patch string }{
	{"patch replicas", `[{"op":"replace","path":"/spec/replicas","value":5}]`},
	{"patch ownerReferences", ownerReferencesPatch},
}

// checkTeamChangesOpenNoWindow adds the newcomer to payments and removes
// him, teamChangeCycles times, each time through pulumi up while he sends
// forbidden changes without pause, and requires that none is admitted.
// The changes are server-side dry runs: they pass RBAC and admission
// exactly as real ones, and one wrongly admitted cannot delete payments.
// Each up is hammered until its effect shows (his first refusal by the
// policy after an add, his first 403 after a remove), so the attempts
// span the change.
func checkTeamChangesOpenNoWindow(t *testing.T, cp *controlplane.ControlPlane, k *kube, s *liveStack) {
	if _, err := cp.AddUser(newcomer); err != nil {
		t.Fatal(err)
	}
	rest, err := cp.RESTConfig(newcomer)
	if err != nil {
		t.Fatal(err)
	}
	// As fast as a script would: client-go's default limit of 5 requests a
	// second would hardly touch a window of half a second.
	rest.QPS, rest.Burst = 100, 100
	client := kubernetes.NewForConfigOrDie(rest)
	payments := k.stackDeployment(t, s, config.ServicePayments)
	entry := fmt.Sprintf("%s[%d]", config.KeyDevelopers, len(s.cfg.Developers))
	phases := []struct {
		name      string
		overrides []pulumistack.Override
		// effect is the answer that shows the up took effect.
		effect outcome
	}{
		{"add", []pulumistack.Override{
			{Path: entry + ".name", Value: newcomer},
			{Path: entry + ".services[0]", Value: string(config.ServicePayments)},
		}, refusedByPolicy},
		{"remove", []pulumistack.Override{{Path: entry}}, forbiddenByRBAC},
	}
	var total hammerCounts
	for cycle := 1; cycle <= teamChangeCycles; cycle++ {
		for _, phase := range phases {
			pulumistack.Apply(t, s.stack, phase.overrides...)
			h := startHammer(client, payments)
			up(t, s)
			h.waitFor(t, phase.effect)
			counts := h.stop()
			t.Logf("cycle %d, %s %s: %s", cycle, phase.name, newcomer, counts)
			total.add(counts)
			if counts.admitted > 0 {
				t.Errorf("cycle %d, %s: %d forbidden changes by %s were admitted", cycle, phase.name, counts.admitted, newcomer)
			}
		}
	}
	t.Logf("%d cycles of adding and removing %s: %s", teamChangeCycles, newcomer, total)
	if total.byPolicy == 0 || total.byRBAC == 0 {
		t.Errorf("the newcomer was never refused by both RBAC and the policy (%s): the race did not span the changes", total)
	}
}

// hammerCounts are the answers to the newcomer's forbidden changes.
type hammerCounts struct {
	attempts, admitted, byPolicy, byRBAC, other int
	lastOther                                   string
}

func (c hammerCounts) String() string {
	s := fmt.Sprintf("%d attempts, %d admitted, %d refused by the policy, %d by RBAC", c.attempts, c.admitted, c.byPolicy, c.byRBAC)
	if c.other > 0 {
		s += fmt.Sprintf(", %d other answers (last: %s)", c.other, c.lastOther)
	}
	return s
}

func (c *hammerCounts) add(o hammerCounts) {
	c.attempts += o.attempts
	c.admitted += o.admitted
	c.byPolicy += o.byPolicy
	c.byRBAC += o.byRBAC
	c.other += o.other
}

// hammer sends the forbidden changes one after another until stopped.
type hammer struct {
	mu     sync.Mutex
	counts hammerCounts
	cancel context.CancelFunc
	done   chan struct{}
}

func startHammer(client kubernetes.Interface, d *appsv1.Deployment) *hammer {
	ctx, cancel := context.WithCancel(context.Background())
	h := &hammer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for i := 0; ctx.Err() == nil; i++ {
			change := forbiddenChanges[i%len(forbiddenChanges)]
			_, err := client.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.JSONPatchType, []byte(change.patch),
				metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
			if ctx.Err() != nil {
				return
			}
			h.record(err)
		}
	}()
	return h
}

func (h *hammer) record(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts.attempts++
	switch {
	case err == nil:
		h.counts.admitted++
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy"):
		h.counts.byPolicy++
	case apierrors.IsForbidden(err):
		h.counts.byRBAC++
	default:
		h.counts.other++
		h.counts.lastOther = err.Error()
	}
}

// waitFor keeps hammering until an attempt after the up got the answer
// that shows the up took effect.
func (h *hammer) waitFor(t *testing.T, effect outcome) {
	t.Helper()
	h.mu.Lock()
	seen := map[outcome]int{refusedByPolicy: h.counts.byPolicy, forbiddenByRBAC: h.counts.byRBAC}[effect]
	h.mu.Unlock()
	controlplane.WaitUntil(t, waitTimeout, newcomer+"'s changes are "+string(effect), func(context.Context) (bool, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		now := map[outcome]int{refusedByPolicy: h.counts.byPolicy, forbiddenByRBAC: h.counts.byRBAC}[effect]
		return now > seen, nil
	})
}

func (h *hammer) stop() hammerCounts {
	h.cancel()
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts
}

// checkControllerIdentities asserts that every ServiceAccount the policy
// exempts as a controller is one kube-controller-manager created for
// itself (it runs with --use-service-account-credentials here).
func (k *kube) checkControllerIdentities(t *testing.T) {
	t.Helper()
	for _, identity := range stack.ClusterControllers {
		name, ok := strings.CutPrefix(identity, "system:serviceaccount:"+metav1.NamespaceSystem+":")
		if !ok {
			continue
		}
		controlplane.WaitUntil(t, waitTimeout, "the controller-manager's ServiceAccount "+name+" exists", func(ctx context.Context) (bool, error) {
			_, err := k.client.CoreV1().ServiceAccounts(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil, err
		})
	}
}

// checkForegroundDeletion deletes a Deployment in the namespace with
// foreground propagation: the garbage collector deletes its ReplicaSet,
// then removes the foregroundDeletion finalizer by an update the policy
// would refuse it, were it not exempt.
func (k *kube) checkForegroundDeletion(t *testing.T, namespace string) {
	t.Helper()
	labels := map[string]string{"app.kubernetes.io/name": "foreground-deletion-probe"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "foreground-deletion-probe", Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "registry.invalid/probe:1"}}},
			},
		},
	}
	deployments := k.client.AppsV1().Deployments(namespace)
	if _, err := deployments.Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controlplane.WaitUntil(t, waitTimeout, "the probe Deployment has its ReplicaSet", func(ctx context.Context) (bool, error) {
		sets, err := k.client.AppsV1().ReplicaSets(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=foreground-deletion-probe"})
		return err == nil && len(sets.Items) > 0, err
	})
	started := time.Now()
	if err := deployments.Delete(t.Context(), d.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatal(err)
	}
	controlplane.WaitUntil(t, waitTimeout, "the garbage collector completes the foreground deletion", func(ctx context.Context) (bool, error) {
		_, err := deployments.Get(ctx, d.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	t.Logf("foreground deletion completed by the garbage collector in %s", time.Since(started).Round(time.Millisecond))
}
