package controlplane

import (
	"context"
	"fmt"
	"net/http"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

const pollInterval = 100 * time.Millisecond

// waitFor polls condition until it holds, the context ends, or the
// component it depends on exits (then its log explains why).
func waitFor(ctx context.Context, p *process, what string, condition func(context.Context) (bool, error)) error {
	var lastErr error
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		if err := p.exitError(); err != nil {
			return false, err
		}
		done, err := condition(ctx)
		if err != nil {
			lastErr = err
			return false, nil
		}
		return done, nil
	})
	if err != nil && lastErr != nil {
		return fmt.Errorf("waiting for %s: %w (last error: %v)", what, err, lastErr)
	}
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

// waitHealthy waits until url answers 200. A nil config means plain HTTP.
func waitHealthy(ctx context.Context, p *process, url string, config *rest.Config) error {
	client := http.DefaultClient
	if config != nil {
		transport, err := rest.TransportFor(config)
		if err != nil {
			return err
		}
		client = &http.Client{Transport: transport}
	}
	return waitFor(ctx, p, p.name+" at "+url, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("%s answered %s", url, resp.Status)
		}
		return true, nil
	})
}

// waitForDefaultServiceAccount waits until the controller-manager created
// the default namespace's ServiceAccount: before that, pods are refused.
func waitForDefaultServiceAccount(ctx context.Context, client kubernetes.Interface, controllerManager *process) error {
	return waitFor(ctx, controllerManager, "the default ServiceAccount", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}

// waitForNodeReady waits until kubelet reports the node Ready: registered,
// its runtime and its network up.
func waitForNodeReady(ctx context.Context, client kubernetes.Interface, kubelet *process) error {
	return waitFor(ctx, kubelet, "node "+NodeName+" Ready", func(ctx context.Context) (bool, error) {
		node, err := client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}

// waitForDeploymentAvailable waits until every replica of the Deployment
// is available, its pods started and ready.
func waitForDeploymentAvailable(ctx context.Context, client kubernetes.Interface, kubelet *process, namespace, name string) error {
	return waitFor(ctx, kubelet, "Deployment "+namespace+"/"+name+" available", func(ctx context.Context) (bool, error) {
		d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return RolledOut(d), nil
	})
}

// RolledOut reports whether the Deployment's controller has seen its latest
// spec and every desired replica runs that spec, available, with no pod of
// an older one left.
func RolledOut(d *appsv1.Deployment) bool {
	want := ptr.Deref(d.Spec.Replicas, 1)
	return d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedReplicas == want &&
		d.Status.AvailableReplicas == want && d.Status.Replicas == want
}
