package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/integration/controlplane"
	"github.com/tinjis/tinjis/integration/internal/pulumistack"
	"github.com/tinjis/tinjis/integration/internal/repo"
)

// committedStacks are the stack files in the repository, all deployed into
// the same cluster.
var committedStacks = []string{"dev", "staging"}

// userWithoutEntry is authenticated by the cluster but named by no stack.
const userWithoutEntry = "nobody@example.com"

// liveStack is a committed stack deployed by the test.
type liveStack struct {
	name  string
	stack auto.Stack
	cfg   config.Config
	// objects are the Kubernetes objects in the stack's state after up.
	objects []pulumistack.Object
}

// TestStacksOnALiveCluster runs `pulumi up` of every committed stack into one
// real control plane, then checks what the cluster holds, who may change it,
// and that `pulumi destroy` removes it all. The steps share the deployed
// stacks, so they run in order and stop at the first that fails.
func TestStacksOnALiveCluster(t *testing.T) {
	started := time.Now()
	cp := controlplane.StartForTest(t)
	t.Logf("control plane ready in %s", time.Since(started).Round(time.Millisecond))
	k := newKube(t, cp)

	stacks := make([]*liveStack, len(committedStacks))
	for i, name := range committedStacks {
		s := &liveStack{name: name, stack: pulumistack.New(t, name)}
		pulumistack.Apply(t, s.stack, clusterOverrides(cp, loadConfig(t, s))...)
		s.cfg = loadConfig(t, s)
		stacks[i] = s
	}
	for _, user := range allUsers(stacks) {
		if _, err := cp.AddUser(user); err != nil {
			t.Fatal(err)
		}
	}

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"pulumi up of every stack succeeds on one cluster", func(t *testing.T) {
			for _, s := range stacks {
				upStarted := time.Now()
				var out bytes.Buffer
				if _, err := s.stack.Up(t.Context(), optup.ProgressStreams(&out)); err != nil {
					t.Fatalf("pulumi up %s: %v\n%s", s.name, err, out.String())
				}
				t.Logf("pulumi up %s: %s", s.name, time.Since(upStarted).Round(time.Millisecond))
				objects, err := pulumistack.Objects(t.Context(), s.stack)
				if err != nil {
					t.Fatal(err)
				}
				s.objects = objects
			}
		}},
		{"every declared object exists server-side with its key fields", func(t *testing.T) {
			for _, s := range stacks {
				t.Run(s.name, func(t *testing.T) {
					m := k.fetch(t, s.objects)
					checkDeclaredStack(t, s.cfg, m)
				})
			}
		}},
		{"every Deployment is Available and its Service has ready endpoints", func(t *testing.T) {
			for _, s := range stacks {
				for _, service := range config.Services {
					d := k.stackDeployment(t, s, service)
					k.checkAvailable(t, d)
				}
			}
		}},
		{"every pod was admitted under its namespace's Pod Security level", func(t *testing.T) {
			for _, s := range stacks {
				for _, ns := range s.namespaces() {
					k.checkPodsMeetPodSecurity(t, ns)
				}
			}
		}},
		{"a second preview reports no changes", func(t *testing.T) {
			for _, s := range stacks {
				var out bytes.Buffer
				result, err := s.stack.Preview(t.Context(), optpreview.ExpectNoChanges(), optpreview.ProgressStreams(&out))
				if err != nil {
					t.Fatalf("pulumi preview %s: %v\n%s", s.name, err, out.String())
				}
				for op, n := range result.ChangeSummary {
					if op != apitype.OpSame && n > 0 {
						t.Errorf("pulumi preview %s: %d resources to %s\n%s", s.name, n, op, out.String())
					}
				}
			}
		}},
		{"RBAC answers match the developers config exactly", func(t *testing.T) {
			var rows []accessRow
			for _, user := range allUsers(stacks) {
				for _, s := range stacks {
					for _, service := range config.Services {
						d := k.stackDeployment(t, s, service)
						allowed, err := askAuthorizer(t.Context(), k.client, user, d.Namespace, d.Name)
						if err != nil {
							t.Fatal(err)
						}
						rows = append(rows, accessRow{user: user, stack: s.name, service: service, namespace: d.Namespace, allowed: allowed})
						for i, p := range checkedPermissions {
							if want := expectedAllowed(s.cfg, user, service, p); allowed[i] != want {
								t.Errorf("%s may %s %s in %s: API server says %v, config says %v", user, p.verb, p.resource, d.Namespace, allowed[i], want)
							}
						}
					}
				}
			}
			logMatrix(t, rows)
		}},
		{"a pod template that breaks the restricted level is refused", func(t *testing.T) {
			namespace := k.stackDeployment(t, stacks[0], config.ServicePayments).Namespace
			k.checkPrivilegedPodRefused(t, namespace)
		}},
		{"NetworkPolicy allows and denies every pair as the config says, evaluated and measured", func(t *testing.T) {
			checkNetworkIsolation(t, k, stacks)
		}},
		{"with the cluster guards a neighbour can neither put a pod on the node's network nor take payments' address, and Antaeus keeps charging", func(t *testing.T) {
			checkClusterGuards(t, cp, k, stacks)
		}},
		{"the Gateway stack's route is validated, and another kubeconfig for the cluster replaces nothing", func(t *testing.T) {
			checkGatewayRouteAndClusterIdentity(t, cp, k, gatewayStack(t, stacks))
		}},
		{"a developer allowed only payments deploys it with their own credentials, and not antaeus", func(t *testing.T) {
			s := stacks[0]
			developer := developerOfOnly(t, s.cfg, config.ServicePayments)
			kubeconfig := cp.Kubeconfig(developer)
			payments := k.stackDeployment(t, s, config.ServicePayments)
			newImage := cp.Images().Payments.PinnedRef()
			if newImage == payments.Spec.Template.Spec.Containers[0].Image {
				t.Fatalf("the rollout image %s is the one payments runs already", newImage)
			}

			kubectl(t, kubeconfig, "-n", payments.Namespace, "set", "image", "deployment/"+payments.Name, payments.Spec.Template.Spec.Containers[0].Name+"="+newImage)
			kubectl(t, kubeconfig, "-n", payments.Namespace, "rollout", "status", "deployment/"+payments.Name, "--timeout=2m")
			k.checkRolledOut(t, payments.Namespace, payments.Name, newImage)

			antaeus := k.stackDeployment(t, s, config.ServiceAntaeus)
			out, err := kubectlResult(kubeconfig, "-n", antaeus.Namespace, "set", "image", "deployment/"+antaeus.Name, antaeus.Spec.Template.Spec.Containers[0].Name+"="+newImage)
			if err == nil || !strings.Contains(out, "(Forbidden)") {
				t.Errorf("kubectl set image on antaeus as %s: err %v, output %q; want refused with Forbidden", developer, err, out)
			}
			t.Logf("kubectl set image on antaeus as %s is refused:\n%s", developer, out)
			developerConfig, err := cp.RESTConfig(developer)
			if err != nil {
				t.Fatal(err)
			}
			patch := fmt.Appendf(nil, `{"spec":{"template":{"spec":{"containers":[{"name":%q,"image":%q}]}}}}`, antaeus.Spec.Template.Spec.Containers[0].Name, newImage)
			_, err = kubernetes.NewForConfigOrDie(developerConfig).AppsV1().Deployments(antaeus.Namespace).
				Patch(t.Context(), antaeus.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			if !apierrors.IsForbidden(err) {
				t.Errorf("patching antaeus's image as %s: %v, want 403 Forbidden", developer, err)
			}
		}},
		{"pulumi destroy leaves none of the stacks' objects behind", func(t *testing.T) {
			for _, s := range stacks {
				var out bytes.Buffer
				if _, err := s.stack.Destroy(t.Context(), optdestroy.ProgressStreams(&out)); err != nil {
					t.Fatalf("pulumi destroy %s: %v\n%s", s.name, err, out.String())
				}
				for _, o := range s.objects {
					if k.exists(t, o) {
						t.Errorf("%s is still there after pulumi destroy %s", o, s.name)
					}
				}
			}
		}},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			t.FailNow()
		}
	}
}

// clusterOverrides are the only changes to a committed stack: point it at
// the test cluster as its admin (the deployer), run images the node has (it pulls nothing: the Antaeus
// stand-in for the operator's Antaeus, our payments build for a digest
// that was never built here), and create an Ingress or a LoadBalancer
// Service without waiting for an address no controller will publish.
func clusterOverrides(cp *controlplane.ControlPlane, committed config.Config) []pulumistack.Override {
	images := cp.Images()
	overrides := append(clusterOnly(cp),
		pulumistack.Override{Path: config.KeyAntaeus + ".image", Value: images.FakeAntaeus.PinnedRef()})
	if committed.Payments.Image != images.Payments.Ref.String() {
		overrides = append(overrides, pulumistack.Override{Path: config.KeyPayments + ".image", Value: images.Payments.PinnedRef()})
	}
	// No controller publishes an Ingress's or a LoadBalancer's address here.
	return append(overrides, pulumistack.Override{Path: config.KeyExpose + ".skipAwait", Value: "true"})
}

func loadConfig(t *testing.T, s *liveStack) config.Config {
	t.Helper()
	cfg, err := config.Load(s.name, pulumistack.Config(t, s.stack))
	if err != nil {
		t.Fatalf("stack %s: %v", s.name, err)
	}
	return cfg
}

// namespaces are the namespaces the stack declares.
func (s *liveStack) namespaces() []string {
	var names []string
	for _, o := range s.objects {
		if o.Kind == "Namespace" {
			names = append(names, o.Name)
		}
	}
	return names
}

// allUsers are every developer any stack names, and one user no stack names.
func allUsers(stacks []*liveStack) []string {
	var users []string
	for _, s := range stacks {
		for _, d := range s.cfg.Developers {
			if !slices.Contains(users, d.Name) {
				users = append(users, d.Name)
			}
		}
	}
	return append(users, userWithoutEntry)
}

// developerOfOnly returns the first developer allowed to deploy service and
// nothing else.
func developerOfOnly(t *testing.T, cfg config.Config, service config.Service) string {
	t.Helper()
	for _, d := range cfg.Developers {
		if slices.Equal(d.Services, []config.Service{service}) {
			return d.Name
		}
	}
	t.Fatalf("the stack names no developer allowed to deploy only %s", service)
	return ""
}

// kubectl runs the kubectl a developer would, with their kubeconfig.
func kubectl(t *testing.T, kubeconfig string, args ...string) {
	t.Helper()
	out, err := kubectlResult(kubeconfig, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("kubectl %s\n%s", strings.Join(args, " "), out)
}

func kubectlResult(kubeconfig string, args ...string) (string, error) {
	binary, err := kubectlBinary()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kubectlBinary is the kubectl tools/build.sh built, else the one on PATH.
func kubectlBinary() (string, error) {
	built, err := repo.Tool("kubectl")
	if err == nil {
		return built, nil
	}
	onPath, pathErr := exec.LookPath("kubectl")
	if pathErr != nil {
		return "", errors.Join(err, pathErr)
	}
	return onPath, nil
}

// privilegedDeployment breaks every Pod Security level but privileged.
func privilegedDeployment(namespace string) *appsv1.Deployment {
	labels := map[string]string{"app.kubernetes.io/name": "pod-security-probe"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-security-probe", Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:            "root",
						Image:           "registry.invalid/root:1",
						SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true), RunAsUser: ptr.To[int64](0)},
					}},
				},
			},
		},
	}
}
