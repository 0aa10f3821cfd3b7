package controlplane

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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

// createFakeNodes creates n Nodes for kwok, each in its own zone.
func createFakeNodes(ctx context.Context, client kubernetes.Interface, n int) error {
	for i := range n {
		name := fmt.Sprintf("kwok-node-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{FakeNodeAnnotation: "fake"},
				Labels: map[string]string{
					"kubernetes.io/hostname":      name,
					"kubernetes.io/os":            "linux",
					"kubernetes.io/arch":          "amd64",
					"topology.kubernetes.io/zone": fmt.Sprintf("zone-%c", 'a'+i),
					"type":                        "kwok",
				},
			},
			Status: corev1.NodeStatus{
				Capacity:    fakeNodeResources(),
				Allocatable: fakeNodeResources(),
			},
		}
		if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}
	return nil
}

func fakeNodeResources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
}

// waitForNodesReady waits until kwok reports every fake node Ready.
func waitForNodesReady(ctx context.Context, client kubernetes.Interface, kwok *process, n int) error {
	return waitFor(ctx, kwok, fmt.Sprintf("%d fake nodes Ready", n), func(ctx context.Context) (bool, error) {
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, node := range nodes.Items {
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= n, nil
	})
}
