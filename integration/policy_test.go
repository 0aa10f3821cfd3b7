package integration

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	admissionregistrationv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/admissionregistration/v1"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/stack"
	"github.com/tinjis/tinjis/integration/internal/repo"
	"github.com/tinjis/tinjis/policy/rules"
)

// policyTable lists each rule's breaking fixture and the policy event its
// preview showed, for the test output.
type policyTable struct {
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newPolicyTable() *policyTable {
	p := &policyTable{}
	p.tw = tabwriter.NewWriter(&p.buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(p.tw, "RULE\tSTACK\tFIXTURE\tEVENT SEEN")
	return p
}

func (p *policyTable) add(rule, stackName, fixture, event string) {
	fmt.Fprintf(p.tw, "%s\t%s\t%s\t%s\n", rule, stackName, fixture, event)
}

func (p *policyTable) log(t *testing.T) {
	_ = p.tw.Flush()
	t.Logf("the policy pack: each rule's breaking fixture, and the policy event its preview showed:\n%s", p.buf.String())
}

// checkPolicyFixtures previews, on the stack s (render mode), each fixture
// program of the stack with the policy pack: the preview must fail with a
// mandatory event of the fixture's rule on the resource it broke, and
// (when the fixture is the program plus one change) no other rule's.
func checkPolicyFixtures(t *testing.T, s auto.Stack, stackName, pack string, caught *policyTable) {
	for _, f := range policyFixtures() {
		if f.stack != stackName {
			continue
		}
		t.Run(f.rule+"/"+f.name, func(t *testing.T) {
			s.Workspace().SetProgram(f.program)
			defer s.Workspace().SetProgram(stack.Program)
			seen, out, err := previewWithPack(t, s, pack)
			event, found := f.caughtBy(seen)
			caught.add(f.rule, stackName, f.name, event)
			if err == nil {
				t.Errorf("the preview passed")
			}
			if !found {
				t.Fatalf("no mandatory %s event on a %s; events: %v\n%s", f.rule, f.resource, seen, out)
			}
			if f.only {
				for _, e := range seen {
					if e.PolicyName != f.rule {
						t.Errorf("the fixture breaks %s too: %s", e.PolicyName, e.Message)
					}
				}
			}
		})
	}
}

// buildPolicyPack builds the pack with `make policy`, into the
// repository's git-ignored .policy/ with PulumiPolicy.yaml beside the
// binary (go skips relinking a binary that is up to date), and returns the
// binary's path: the engine starts it directly.
func buildPolicyPack(t *testing.T) string {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	build := exec.CommandContext(t.Context(), "make", "--no-print-directory", "-s", "policy")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make policy: %v\n%s", err, out)
	}
	t.Logf("make policy: %s", time.Since(started).Round(time.Millisecond))
	return filepath.Join(root, ".policy", policyPackBinary)
}

// policyPackBinary is the pack's binary name, as the Makefile builds it.
const policyPackBinary = "tinjis-policy"

// previewWithPack previews the stack with the pack and returns the policy
// events the engine sent, and the preview's output.
func previewWithPack(t *testing.T, s auto.Stack, pack string) ([]apitype.PolicyEvent, string, error) {
	t.Helper()
	stream := make(chan events.EngineEvent)
	collected := make(chan []apitype.PolicyEvent)
	go func() {
		var seen []apitype.PolicyEvent
		for e := range stream {
			if e.PolicyEvent != nil {
				seen = append(seen, *e.PolicyEvent)
			}
		}
		collected <- seen
	}()
	var out bytes.Buffer
	_, err := s.Preview(t.Context(), optpreview.PolicyPacks(pack), optpreview.EventStreams(stream), optpreview.ProgressStreams(&out))
	return <-collected, out.String(), err
}

// policyFixture is a program, run on a committed stack's config, that
// breaks a rule on one resource.
type policyFixture struct {
	rule, stack, name string
	program           pulumi.RunFunc
	// resource is the type and name ending the URN the event must name.
	resource string
	// only: the fixture breaks no other rule (the program plus one
	// change); fixtures that are whole other programs break more.
	only bool
}

// caughtBy returns the fixture's rule's mandatory event on its resource,
// as "rule on resource", if the preview sent one.
func (f policyFixture) caughtBy(seen []apitype.PolicyEvent) (string, bool) {
	for _, e := range seen {
		if e.PolicyName == f.rule && e.PolicyPackName == rules.PackName && e.EnforcementLevel == "mandatory" && strings.HasSuffix(e.ResourceURN, f.resource) {
			return e.PolicyName + " on " + shortURN(e.ResourceURN), true
		}
	}
	return "NONE", false
}

// shortURN is the kind and name a URN ends with (NetworkPolicy::allow-all).
func shortURN(urn string) string {
	parts := strings.Split(urn, "::")
	if len(parts) < 2 {
		return urn
	}
	typ := parts[len(parts)-2]
	return typ[strings.LastIndex(typ, ":")+1:] + "::" + parts[len(parts)-1]
}

func policyFixtures() []policyFixture {
	return []policyFixture{
		{
			rule: rules.RuleIsolation, stack: "dev", only: true,
			name:     "the program adds an allow-all NetworkPolicy to payments' namespace",
			resource: "NetworkPolicy::allow-all",
			program: withTinjis(func(ctx *pulumi.Context, t *stack.Tinjis) error {
				_, err := networkingv1.NewNetworkPolicy(ctx, "allow-all", allowAll(t.PaymentsNamespace), pulumi.Parent(t.Payments))
				return err
			}),
		},
		{
			rule: rules.RuleExposure, stack: "dev", only: true,
			name:     "the program adds a NodePort Service to payments' namespace",
			resource: "Service::payments-nodeport",
			program: withTinjis(func(ctx *pulumi.Context, t *stack.Tinjis) error {
				_, err := corev1.NewService(ctx, "payments-nodeport", nodePort(t.PaymentsNamespace), pulumi.Parent(t.Payments))
				return err
			}),
		},
		{
			rule: rules.RuleHardening, stack: "staging", only: true,
			name:     "payments' namespace without its Pod Security enforce label",
			resource: "Namespace::payments-staging",
			program: withTransformation(func(args *pulumi.ResourceTransformationArgs) {
				if ns, ok := args.Props.(*corev1.NamespaceArgs); ok && args.Name == "payments-staging" {
					delete(ns.Metadata.(*metav1.ObjectMetaArgs).Labels.(pulumi.StringMap), "pod-security.kubernetes.io/enforce")
				}
			}),
		},
		{
			rule: rules.RuleImages, stack: "dev", only: true,
			name:     "payments on the latest tag",
			resource: "Deployment::payments",
			program: withTransformation(func(args *pulumi.ResourceTransformationArgs) {
				if d, ok := args.Props.(*appsv1.DeploymentArgs); ok && args.Name == "payments" {
					editFirstContainer(d, func(c *corev1.ContainerArgs) { c.Image = pulumi.String("ghcr.io/tinjis/tinjis/payments:latest") })
				}
			}),
		},
		{
			rule: rules.RuleRights, stack: "dev", only: true,
			name:     "payments' deployers may exec into pods",
			resource: "Role::payments-deployer",
			program: withTransformation(func(args *pulumi.ResourceTransformationArgs) {
				if r, ok := args.Props.(*rbacv1.RoleArgs); ok && args.Name == "payments-deployer" {
					r.Rules = append(r.Rules.(rbacv1.PolicyRuleArray), rbacv1.PolicyRuleArgs{
						ApiGroups: pulumi.ToStringArray([]string{""}),
						Resources: pulumi.ToStringArray([]string{"pods/exec"}),
						Verbs:     pulumi.ToStringArray([]string{"create"}),
					})
				}
			}),
		},
		{
			rule: rules.RuleAdmission, stack: "staging", only: true,
			name:     "payments' admission binding only warns",
			resource: "Namespace::payments-staging",
			program: withTransformation(func(args *pulumi.ResourceTransformationArgs) {
				if b, ok := args.Props.(*admissionregistrationv1.ValidatingAdmissionPolicyBindingArgs); ok && args.Name == "payments-developer-rollouts" {
					spec := b.Spec.(admissionregistrationv1.ValidatingAdmissionPolicyBindingSpecArgs)
					spec.ValidationActions = pulumi.ToStringArray([]string{"Warn"})
					b.Spec = spec
				}
			}),
		},
		{
			rule: rules.RuleIsolation, stack: "dev",
			name:     "another program declares only an allow-all NetworkPolicy in payments' namespace",
			resource: "NetworkPolicy::allow-all",
			program: withRenderingProvider(func(ctx *pulumi.Context, cfg config.Config, opts ...pulumi.ResourceOption) error {
				_, err := networkingv1.NewNetworkPolicy(ctx, "allow-all", allowAll(pulumi.String(cfg.NamespaceOf(config.ServicePayments))), opts...)
				return err
			}),
		},
		{
			rule: rules.RuleExposure, stack: "dev",
			name:     "another program declares only a NodePort Service in payments' namespace",
			resource: "Service::payments-nodeport",
			program: withRenderingProvider(func(ctx *pulumi.Context, cfg config.Config, opts ...pulumi.ResourceOption) error {
				_, err := corev1.NewService(ctx, "payments-nodeport", nodePort(pulumi.String(cfg.NamespaceOf(config.ServicePayments))), opts...)
				return err
			}),
		},
	}
}

// withTinjis is the program, plus what add declares next to it.
func withTinjis(add func(*pulumi.Context, *stack.Tinjis) error) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg, err := config.Load(ctx.Stack(), ctx)
		if err != nil {
			return err
		}
		t, err := stack.NewTinjis(ctx, "tinjis", cfg)
		if err != nil {
			return err
		}
		return add(ctx, t)
	}
}

// withTransformation is the program with edit applied to the arguments of
// every resource it declares.
func withTransformation(edit func(*pulumi.ResourceTransformationArgs)) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		if err := ctx.RegisterStackTransformation(func(args *pulumi.ResourceTransformationArgs) *pulumi.ResourceTransformationResult {
			edit(args)
			return &pulumi.ResourceTransformationResult{Props: args.Props, Opts: args.Opts}
		}); err != nil {
			return err
		}
		return stack.Program(ctx)
	}
}

// withRenderingProvider is a program other than ours, on the stack's
// config: its objects go through a provider of its own that renders them.
func withRenderingProvider(declare func(*pulumi.Context, config.Config, ...pulumi.ResourceOption) error) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg, err := config.Load(ctx.Stack(), ctx)
		if err != nil {
			return err
		}
		provider, err := kubernetes.NewProvider(ctx, "render", &kubernetes.ProviderArgs{
			RenderYamlToDirectory: pulumi.String(cfg.Kubernetes.RenderYamlToDirectory),
			// Left nil, the SDK takes the user's KUBECONFIG, which the
			// provider refuses next to renderYamlToDirectory.
			Kubeconfig: pulumi.String(""),
		})
		if err != nil {
			return err
		}
		return declare(ctx, cfg, pulumi.Provider(provider))
	}
}

func allowAll(namespace pulumi.StringInput) *networkingv1.NetworkPolicyArgs {
	return &networkingv1.NetworkPolicyArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String("allow-all"), Namespace: namespace},
		Spec: networkingv1.NetworkPolicySpecArgs{
			PodSelector: metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress"}),
			Ingress:     networkingv1.NetworkPolicyIngressRuleArray{networkingv1.NetworkPolicyIngressRuleArgs{}},
		},
	}
}

func nodePort(namespace pulumi.StringInput) *corev1.ServiceArgs {
	return &corev1.ServiceArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String("payments-nodeport"), Namespace: namespace},
		Spec: corev1.ServiceSpecArgs{
			Type:     pulumi.String("NodePort"),
			Selector: pulumi.StringMap{"app.kubernetes.io/name": pulumi.String(string(config.ServicePayments))},
			Ports:    corev1.ServicePortArray{corev1.ServicePortArgs{Port: pulumi.Int(80)}},
		},
	}
}

// editFirstContainer edits the first container of a Deployment's pod
// template, as the program declares it (Args values all the way down).
func editFirstContainer(d *appsv1.DeploymentArgs, edit func(*corev1.ContainerArgs)) {
	spec := d.Spec.(appsv1.DeploymentSpecArgs)
	template := spec.Template.(corev1.PodTemplateSpecArgs)
	pod := template.Spec.(corev1.PodSpecArgs)
	containers := slices.Clone(pod.Containers.(corev1.ContainerArray))
	c := containers[0].(corev1.ContainerArgs)
	edit(&c)
	containers[0] = c
	pod.Containers = containers
	template.Spec = pod
	spec.Template = template
	d.Spec = spec
}

// policyTimingRuns is how many previews each way the timing takes the
// median of.
const policyTimingRuns = 3

// measurePreviewTime previews the stack policyTimingRuns times without the
// pack and as many with it, interleaved, and logs the medians and their
// ratio. A benchmark-like measurement on a shared machine: it is printed,
// not asserted.
func measurePreviewTime(t *testing.T, s auto.Stack, pack string) {
	var without, with []time.Duration
	for range policyTimingRuns {
		started := time.Now()
		if _, err := s.Preview(t.Context()); err != nil {
			t.Fatal(err)
		}
		without = append(without, time.Since(started))
		started = time.Now()
		if seen, _, err := previewWithPack(t, s, pack); err != nil || len(seen) > 0 {
			t.Fatalf("preview with the pack: %v %v", err, seen)
		}
		with = append(with, time.Since(started))
	}
	median := func(d []time.Duration) time.Duration {
		sorted := slices.Sorted(slices.Values(d))
		return sorted[len(sorted)/2]
	}
	m0, m1 := median(without), median(with)
	t.Logf("render-mode preview of %s, median of %d: %s without the pack, %s with it (%.2fx; the target is at most 1.3x)",
		s.Name(), policyTimingRuns, m0.Round(time.Millisecond), m1.Round(time.Millisecond), float64(m1)/float64(m0))
}
