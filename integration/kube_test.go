package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/integration/controlplane"
	"github.com/tinjis/tinjis/integration/internal/pulumistack"
)

// waitTimeout bounds every wait on the cluster. Images are local, but
// probes run on their periods (payments' readiness every 5 s) and a new pod
// waits for the policy engine to know its address.
const waitTimeout = 2 * time.Minute

// kube asks the test cluster, as its administrator.
type kube struct {
	client  kubernetes.Interface
	dynamic dynamic.Interface
	mapper  meta.RESTMapper
}

func newKube(t *testing.T, cp *controlplane.ControlPlane) *kube {
	t.Helper()
	config, err := cp.RESTConfig(controlplane.AdminUser)
	if err != nil {
		t.Fatal(err)
	}
	// The checks read back what the tests themselves did; the API server's
	// warnings (Pod Security's "would violate") are expected noise here.
	config.WarningHandler = rest.NoWarnings{}
	discoveryClient, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	return &kube{
		client:  kubernetes.NewForConfigOrDie(config),
		dynamic: dynamic.NewForConfigOrDie(config),
		mapper:  restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discoveryClient)),
	}
}

// get reads an object of the stack's state from the API server; nil when
// it does not exist.
func (k *kube) get(t *testing.T, o pulumistack.Object) *unstructured.Unstructured {
	t.Helper()
	gv, err := schema.ParseGroupVersion(o.APIVersion)
	if err != nil {
		t.Fatalf("%s: %v", o, err)
	}
	mapping, err := k.mapper.RESTMapping(gv.WithKind(o.Kind).GroupKind(), gv.Version)
	if err != nil {
		t.Fatalf("%s: %v", o, err)
	}
	u, err := k.dynamic.Resource(mapping.Resource).Namespace(o.Namespace).Get(t.Context(), o.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("get %s: %v", o, err)
	}
	return u
}

func (k *kube) exists(t *testing.T, o pulumistack.Object) bool {
	t.Helper()
	return k.get(t, o) != nil
}

// fetch reads back every object of the stack's state; each must exist.
func (k *kube) fetch(t *testing.T, objects []pulumistack.Object) *manifests {
	t.Helper()
	m := &manifests{}
	for _, o := range objects {
		u := k.get(t, o)
		if u == nil {
			t.Errorf("%s is in the stack's state but not in the cluster", o)
			continue
		}
		if err := m.add(u); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// stackDeployment reads the Deployment of a service from the cluster.
func (k *kube) stackDeployment(t *testing.T, s *liveStack, service config.Service) *appsv1.Deployment {
	t.Helper()
	for _, o := range s.objects {
		if o.Kind == "Deployment" && o.Name == string(service) {
			d, err := k.client.AppsV1().Deployments(o.Namespace).Get(t.Context(), o.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatalf("stack %s declares no Deployment named %s", s.name, service)
	return nil
}

// checkAvailable asserts the Deployment is Available with all its replicas,
// and the Services selecting its pods have as many ready endpoints.
func (k *kube) checkAvailable(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	want := ptr.Deref(d.Spec.Replicas, 1)
	available := false
	for _, c := range d.Status.Conditions {
		available = available || (c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue)
	}
	if !available || d.Status.AvailableReplicas != want {
		t.Errorf("Deployment %s/%s: Available=%v with %d of %d replicas", d.Namespace, d.Name, available, d.Status.AvailableReplicas, want)
	}
	services, err := k.client.CoreV1().Services(d.Namespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	selected := 0
	for _, s := range services.Items {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			continue
		}
		selected++
		got, err := controlplane.ReadyEndpoints(t.Context(), k.client, s.Namespace, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got != int(want) {
			t.Errorf("Service %s/%s has %d ready endpoints, want %d", s.Namespace, s.Name, got, want)
		}
	}
	if selected == 0 {
		t.Errorf("no Service selects the pods of Deployment %s/%s", d.Namespace, d.Name)
	}
}

// checkPodsMeetPodSecurity asserts the namespace enforces a Pod Security
// level, that its Deployments have all their pods, and that every pod meets
// the enforced level and version as the admission plugin evaluates it.
func (k *kube) checkPodsMeetPodSecurity(t *testing.T, namespace string) {
	t.Helper()
	ns, err := k.client.CoreV1().Namespaces().Get(t.Context(), namespace, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	policy, errs := psaapi.PolicyToEvaluate(ns.Labels, psaapi.Policy{})
	if len(errs) > 0 || ns.Labels[psaapi.EnforceLevelLabel] == "" {
		t.Fatalf("namespace %s has no valid %s label: %v", namespace, psaapi.EnforceLevelLabel, errs)
	}
	evaluator, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	deployments, err := k.client.AppsV1().Deployments(namespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := k.client.CoreV1().Pods(namespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wantPods int32
	for _, d := range deployments.Items {
		wantPods += ptr.Deref(d.Spec.Replicas, 1)
	}
	if len(pods.Items) != int(wantPods) {
		t.Errorf("namespace %s has %d pods, its Deployments want %d", namespace, len(pods.Items), wantPods)
	}
	for _, pod := range pods.Items {
		result := psapolicy.AggregateCheckResults(evaluator.EvaluatePod(policy.Enforce, &pod.ObjectMeta, &pod.Spec))
		if !result.Allowed {
			t.Errorf("pod %s/%s breaks %s: %s", namespace, pod.Name, policy.Enforce, result.ForbiddenDetail())
		} else {
			t.Logf("pod %s/%s meets Pod Security %s", namespace, pod.Name, policy.Enforce)
		}
	}
}

// checkPrivilegedPodRefused creates a Deployment whose pods break every
// level but privileged, and waits for its ReplicaSet to report that Pod
// Security admission refused them.
func (k *kube) checkPrivilegedPodRefused(t *testing.T, namespace string) {
	t.Helper()
	deployment := privilegedDeployment(namespace)
	deployments := k.client.AppsV1().Deployments(namespace)
	if _, err := deployments.Create(t.Context(), deployment, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := deployments.Delete(context.Background(), deployment.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}); err != nil {
			t.Errorf("delete %s: %v", deployment.Name, err)
		}
	}()
	var refusal string
	controlplane.WaitUntil(t, waitTimeout, "the ReplicaSet reports FailedCreate", func(ctx context.Context) (bool, error) {
		sets, err := k.client.AppsV1().ReplicaSets(namespace).List(ctx, metav1.ListOptions{
			LabelSelector: labels.SelectorFromSet(deployment.Spec.Selector.MatchLabels).String(),
		})
		if err != nil {
			return false, err
		}
		for _, rs := range sets.Items {
			for _, c := range rs.Status.Conditions {
				if c.Type == appsv1.ReplicaSetReplicaFailure && c.Reason == "FailedCreate" {
					refusal = c.Message
					return true, nil
				}
			}
		}
		return false, nil
	})
	if !strings.Contains(refusal, "violates PodSecurity") {
		t.Errorf("the ReplicaSet failed to create pods for another reason: %s", refusal)
	}
	t.Logf("ReplicaSet FailedCreate: %s", refusal)
	pods, err := k.client.CoreV1().Pods(namespace).List(t.Context(), metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(deployment.Spec.Selector.MatchLabels).String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) > 0 {
		t.Errorf("%d privileged pods were admitted into %s", len(pods.Items), namespace)
	}
}

// checkRolledOut asserts every pod of the Deployment runs image, and only
// those pods remain.
func (k *kube) checkRolledOut(t *testing.T, namespace, name, image string) {
	t.Helper()
	d, err := k.client.AppsV1().Deployments(namespace).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
		t.Fatalf("Deployment %s/%s runs %s, want %s", namespace, name, got, image)
	}
	controlplane.WaitUntil(t, waitTimeout, "only pods of the new image remain", func(ctx context.Context) (bool, error) {
		pods, err := k.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{
			LabelSelector: labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String(),
		})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Spec.Containers[0].Image != image {
				return false, nil
			}
		}
		return len(pods.Items) == int(ptr.Deref(d.Spec.Replicas, 1)), nil
	})
}
