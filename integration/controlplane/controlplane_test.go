package controlplane_test

import (
	"context"
	"net"
	"net/url"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/tinjis/tinjis/integration/controlplane"
)

func TestControlPlane(t *testing.T) {
	started := time.Now()
	cp := controlplane.StartForTest(t, controlplane.Options{})
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

	t.Run("Stop ends every component", func(t *testing.T) {
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
						Name:  "echo",
						Image: "registry.invalid/echo:1",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
					}},
				},
			},
		},
	}
}
