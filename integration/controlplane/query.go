package controlplane

import (
	"context"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// ReadyEndpoints counts the ready endpoints of a Service over all its
// EndpointSlices.
func ReadyEndpoints(ctx context.Context, client kubernetes.Interface, namespace, service string) (int, error) {
	slices, err := client.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + service,
	})
	if err != nil {
		return 0, err
	}
	ready := 0
	for _, slice := range slices.Items {
		for _, endpoint := range slice.Endpoints {
			if ptr.Deref(endpoint.Conditions.Ready, false) {
				ready++
			}
		}
	}
	return ready, nil
}

// WaitUntil polls condition until it holds, and fails the test when it
// returns an error or timeout passes first.
func WaitUntil(tb testing.TB, timeout time.Duration, what string, condition wait.ConditionWithContextFunc) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), timeout)
	defer cancel()
	if err := wait.PollUntilContextCancel(ctx, pollInterval, true, condition); err != nil {
		tb.Fatalf("waiting until %s: %v", what, err)
	}
}
