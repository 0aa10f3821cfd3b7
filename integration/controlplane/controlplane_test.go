package controlplane_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/tinjis/tinjis/integration/controlplane"
	"github.com/tinjis/tinjis/integration/testimages"
)

func TestControlPlane(t *testing.T) {
	started := time.Now()
	cp := controlplane.StartForTest(t)
	t.Logf("control plane ready in %s", time.Since(started).Round(time.Millisecond))
	admin, err := cp.AdminClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	t.Run("a Deployment becomes Available and its Service gets ready endpoints", func(t *testing.T) {
		deployment := echoDeployment("default", 2)
		if _, err := admin.AppsV1().Deployments("default").Create(ctx, deployment, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		service := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "echo"},
			Spec: corev1.ServiceSpec{
				Selector: deployment.Spec.Selector.MatchLabels,
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}},
			},
		}
		if _, err := admin.CoreV1().Services("default").Create(ctx, service, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		controlplane.WaitUntil(t, 30*time.Second, "the Deployment is Available", func(ctx context.Context) (bool, error) {
			d, err := admin.AppsV1().Deployments("default").Get(ctx, "echo", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return d.Status.AvailableReplicas == 2, nil
		})
		controlplane.WaitUntil(t, 30*time.Second, "the Service has 2 ready endpoints", func(ctx context.Context) (bool, error) {
			ready, err := controlplane.ReadyEndpoints(ctx, admin, "default", "echo")
			return err == nil && ready == 2, nil
		})
	})

	t.Run("a pod reaches a Service by its DNS name through kube-proxy", func(t *testing.T) {
		pods := runningPods(t, admin, "default", "app=echo")
		query := "/http?url=" + url.QueryEscape("http://echo.default.svc."+controlplane.ClusterDomain+"/healthz")
		// kube-proxy programs a new Service's endpoints within a second or so.
		var got agentResult
		controlplane.WaitUntil(t, 30*time.Second, "GET http://echo.default.svc."+controlplane.ClusterDomain+"/healthz answers 200", func(context.Context) (bool, error) {
			got = agentAsk(t, pods[0], query)
			return got.Connected && got.Status == http.StatusOK, nil
		})
	})

	t.Run("a NetworkPolicy is enforced: connections it does not admit are refused", func(t *testing.T) {
		pods := runningPods(t, admin, "default", "app=echo")
		from, to := pods[0], pods[1]
		dial := "/dial?addr=" + net.JoinHostPort(to.Status.PodIP, "8080")
		policy := &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "deny-echo"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "echo"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			},
		}
		if _, err := admin.NetworkingV1().NetworkPolicies("default").Create(ctx, policy, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		controlplane.WaitUntil(t, 30*time.Second, "the policy refuses pod to pod connections", func(context.Context) (bool, error) {
			return !agentAsk(t, from, dial).Connected, nil
		})
		if err := admin.NetworkingV1().NetworkPolicies("default").Delete(ctx, policy.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		controlplane.WaitUntil(t, 30*time.Second, "without the policy, connections are made again", func(context.Context) (bool, error) {
			return agentAsk(t, from, dial).Connected, nil
		})
	})

	t.Run("a user without any binding is forbidden everything", func(t *testing.T) {
		kubeconfig, err := cp.AddUser("nobody@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if kubeconfig == "" {
			t.Fatal("AddUser returned no kubeconfig")
		}
		config, err := cp.RESTConfig("nobody@example.com")
		if err != nil {
			t.Fatal(err)
		}
		nobody := kubernetes.NewForConfigOrDie(config)
		_, err = nobody.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("listing Deployments as a user without bindings: got %v, want 403 Forbidden", err)
		}
		review, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: "nobody@example.com",
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: "default", Verb: "get", Group: "", Resource: "pods",
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if review.Status.Allowed {
			t.Fatal("the authorizer allows a user without bindings to get pods")
		}
	})

	t.Run("Stop ends every component and leaves nothing of the node", func(t *testing.T) {
		server, err := url.Parse(cp.Server())
		if err != nil {
			t.Fatal(err)
		}
		if err := cp.Stop(); err != nil {
			t.Fatal(err)
		}
		if conn, err := net.DialTimeout("tcp", server.Host, time.Second); err == nil {
			conn.Close()
			t.Fatalf("the API server still listens on %s after Stop", server.Host)
		}
		interfaces, err := net.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range interfaces {
			if i.Name != "lo" {
				t.Errorf("link %s is left after Stop", i.Name)
			}
		}
		mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(cp.Dir()))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mounts {
			t.Errorf("%s is still mounted after Stop", m.Mountpoint)
		}
	})
}

func echoDeployment(namespace string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": "echo"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:            "echo",
						Image:           testimages.ProbeRef,
						ImagePullPolicy: corev1.PullNever,
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: testimages.ProbePort}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
		},
	}
}

// runningPods lists the namespace's pods matching selector that have an
// address, and fails unless there are at least two.
func runningPods(t *testing.T, client kubernetes.Interface, namespace, selector string) []corev1.Pod {
	t.Helper()
	list, err := client.CoreV1().Pods(namespace).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.Status.PodIP != "" && p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	if len(pods) < 2 {
		t.Fatalf("%d pods match %s in %s, want 2", len(pods), selector, namespace)
	}
	return pods
}

// agentResult is the probe agent's answer (integration/cmd/probe).
type agentResult struct {
	Connected bool
	Reason    string
	Error     string
	Status    int
}

// agentAsk asks the agent in pod for one probe.
func agentAsk(t *testing.T, pod corev1.Pod, query string) agentResult {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(testimages.ProbePort)) + query)
	if err != nil {
		t.Fatalf("ask the agent in %s: %v", pod.Name, err)
	}
	defer resp.Body.Close()
	var result agentResult
	if err := json.NewDecoder(resp.Body).Decode(&result); err != nil {
		t.Fatalf("the agent in %s: %v", pod.Name, err)
	}
	return result
}
