package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/integration/controlplane"
	"github.com/tinjis/tinjis/integration/internal/pulumistack"
)

// providerType is the Pulumi type of the Kubernetes provider resource.
const providerType = "pulumi:providers:kubernetes"

// checkGatewayRouteAndClusterIdentity takes the deployed stack that is
// exposed through a Gateway (the cluster has the Gateway API's CRDs),
// checks that the API server holds the route as the program declared it
// and validates routes against the Gateway API's schema, then points the
// stack at the same cluster through a kubeconfig of another path, context
// name and form: only the provider may change, no object is replaced, and
// Antaeus's pod (its invoices) lives on. (Without the provider's
// clusterIdentifier, the changed CA form alone makes the provider's
// heuristic replace every object.)
func checkGatewayRouteAndClusterIdentity(t *testing.T, cp *controlplane.ControlPlane, k *kube, s *liveStack) {
	var route gatewayv1.HTTPRoute
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"the HTTPRoute is as declared, accepted by the API server", func(t *testing.T) {
			m := k.fetch(t, s.objects)
			if len(m.httpRoutes) != 1 {
				t.Fatalf("the cluster holds %d of the stack's HTTPRoutes, want 1", len(m.httpRoutes))
			}
			route = m.httpRoutes[0]
			checkRoute(t, s.cfg.Expose.Gateway, route, m.servicesSelecting(m.deployment(t, config.ServiceAntaeus)))
			t.Logf("HTTPRoute %s/%s: parents %s, hostnames %v", route.Namespace, route.Name, describeParents(route), route.Spec.Hostnames)
		}},
		{"the API server refuses a route the Gateway API's schema forbids", func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				mutate func(r *gatewayv1.HTTPRoute)
			}{
				{"a hostname that is no DNS name", func(r *gatewayv1.HTTPRoute) { r.Spec.Hostnames = []gatewayv1.Hostname{"Antaeus Staging"} }},
				{"a path that does not start with a slash", func(r *gatewayv1.HTTPRoute) {
					r.Spec.Rules[0].Matches[0].Path.Value = new("rest")
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					broken := route.DeepCopy()
					tc.mutate(broken)
					obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(broken)
					if err != nil {
						t.Fatal(err)
					}
					_, err = k.dynamic.Resource(gatewayv1.SchemeGroupVersion.WithResource("httproutes")).Namespace(route.Namespace).
						Update(t.Context(), &unstructured.Unstructured{Object: obj}, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
					if !apierrors.IsInvalid(err) {
						t.Errorf("the API server answered %v, want 422 Invalid", err)
					}
					t.Logf("refused: %v", err)
				})
			}
		}},
		{"the same cluster through another kubeconfig file, context name and CA form changes only the provider", func(t *testing.T) {
			antaeusPod := k.antaeusPodUID(t, s)
			// In the cluster's directory: the stack reads it until it is destroyed.
			kubeconfig := movedKubeconfig(t, cp.Kubeconfig(controlplane.AdminUser), filepath.Join(cp.Dir(), "moved-kubeconfig"), "tinjis-test-renamed")
			pulumistack.Apply(t, s.stack,
				pulumistack.Override{Path: config.KeyKubernetes + ".kubeconfig", Value: kubeconfig},
				pulumistack.Override{Path: config.KeyKubernetes + ".context", Value: "tinjis-test-renamed"},
			)
			steps, out := previewSteps(t, s)
			var same, providerUpdates int
			var unexpected []string
			for _, step := range steps {
				switch {
				case step.Op == apitype.OpSame:
					same++
				case step.Type == providerType && step.Op == apitype.OpUpdate:
					providerUpdates++
				default:
					unexpected = append(unexpected, string(step.Op)+" "+step.Type+" "+step.URN[strings.LastIndex(step.URN, "::")+2:])
				}
			}
			t.Logf("preview with the moved kubeconfig: %d resources the same, %d provider update(s), %d other steps", same, providerUpdates, len(unexpected))
			if len(unexpected) > 0 {
				slices.Sort(unexpected)
				t.Errorf("%d steps besides the provider's update, want none:\n%s\n%s", len(unexpected), strings.Join(unexpected, "\n"), out)
			}
			var out2 bytes.Buffer
			if _, err := s.stack.Up(t.Context(), optup.ProgressStreams(&out2)); err != nil {
				t.Fatalf("pulumi up with the new kubeconfig: %v\n%s", err, out2.String())
			}
			if after := k.antaeusPodUID(t, s); after != antaeusPod {
				t.Errorf("Antaeus's pod is %s after the update, was %s: its invoices are gone", after, antaeusPod)
			}
		}},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			t.FailNow()
		}
	}
}

// gatewayStack is the stack exposed through a Gateway.
func gatewayStack(t *testing.T, stacks []*liveStack) *liveStack {
	t.Helper()
	for _, s := range stacks {
		if s.cfg.Expose.Mode == config.ExposeGateway {
			return s
		}
	}
	t.Fatalf("no committed stack is exposed in %s mode", config.ExposeGateway)
	return nil
}

// previewSteps runs pulumi preview and returns the step it plans for every
// resource, and its output.
func previewSteps(t *testing.T, s *liveStack) ([]apitype.StepEventMetadata, string) {
	t.Helper()
	stream := make(chan events.EngineEvent)
	var steps []apitype.StepEventMetadata
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for e := range stream {
			if e.ResourcePreEvent != nil {
				steps = append(steps, e.ResourcePreEvent.Metadata)
			}
		}
	}()
	var out bytes.Buffer
	_, err := s.stack.Preview(t.Context(), optpreview.EventStreams(stream), optpreview.ProgressStreams(&out), optpreview.Diff())
	<-collected
	if err != nil {
		t.Fatalf("pulumi preview %s: %v\n%s", s.name, err, out.String())
	}
	if len(steps) == 0 {
		t.Fatalf("pulumi preview %s planned no steps at all\n%s", s.name, out.String())
	}
	return steps, out.String()
}

// movedKubeconfig writes the kubeconfig in another form, at another path:
// its context and cluster entries renamed to name and the cluster's CA
// certificate in a file of its own instead of inline, both in dir. It
// reaches the same cluster as the same user.
func movedKubeconfig(t *testing.T, path, dir, name string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	context := cfg.Contexts[cfg.CurrentContext]
	if context == nil || cfg.Clusters[context.Cluster] == nil {
		t.Fatalf("%s has no current context with a cluster", path)
	}
	cluster := cfg.Clusters[context.Cluster]
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cluster.CertificateAuthority = filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(cluster.CertificateAuthority, cluster.CertificateAuthorityData, 0o600); err != nil {
		t.Fatal(err)
	}
	cluster.CertificateAuthorityData = nil
	delete(cfg.Clusters, context.Cluster)
	delete(cfg.Contexts, cfg.CurrentContext)
	context.Cluster = name
	cfg.Clusters[name] = cluster
	cfg.Contexts[name] = context
	cfg.CurrentContext = name
	moved := filepath.Join(dir, "kubeconfig.yaml")
	if err := clientcmd.WriteToFile(*cfg, moved); err != nil {
		t.Fatal(err)
	}
	return moved
}

// antaeusPodUID is the UID of the stack's one Antaeus pod.
func (k *kube) antaeusPodUID(t *testing.T, s *liveStack) types.UID {
	t.Helper()
	d := k.stackDeployment(t, s, config.ServiceAntaeus)
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	pods, err := k.client.CoreV1().Pods(d.Namespace).List(t.Context(), metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		t.Fatal(err)
	}
	var uids []types.UID
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			uids = append(uids, p.UID)
		}
	}
	if len(uids) != 1 {
		t.Fatalf("%d Antaeus pods in %s, want 1", len(uids), d.Namespace)
	}
	return uids[0]
}

func describeParents(r gatewayv1.HTTPRoute) string {
	var parents []string
	for _, p := range r.Spec.ParentRefs {
		parents = append(parents, string(deref(p.Namespace))+"/"+string(p.Name)+"#"+string(deref(p.SectionName)))
	}
	slices.Sort(parents)
	return strings.Join(parents, ", ")
}
