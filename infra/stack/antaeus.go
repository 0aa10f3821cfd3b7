package stack

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
)

// healthPath answers 200 once Antaeus has seeded its database.
const healthPath = "/rest/health"

// scratchDir holds Antaeus's SQLite database (/tmp/data.db): a writable
// emptyDir even where the root filesystem is read-only.
const scratchDir = "/tmp"

// AntaeusArgs configure the Antaeus component.
type AntaeusArgs struct {
	Config    config.Antaeus
	Expose    config.Expose
	Namespace *corev1.Namespace
	Workload  workload
	// PaymentsEndpoint is the URL Antaeus posts charges to.
	PaymentsEndpoint pulumi.StringInput
	// Payments is the workload Antaeus may call.
	Payments peer
	// DeployRights are who may roll it out by hand, and what.
	DeployRights DeployRights
}

// Antaeus is the billing service of one environment.
type Antaeus struct {
	pulumi.ResourceState

	Deployment *appsv1.Deployment
	Service    *corev1.Service
	// Ingress is nil unless Antaeus is exposed through one.
	Ingress *networkingv1.Ingress
	// HTTPRoute is nil unless Antaeus is exposed through a Gateway.
	HTTPRoute *apiextensions.CustomResource
	// URL is where Antaeus is reached from outside the cluster.
	URL pulumi.StringOutput
}

// NewAntaeus declares the billing service: one replica recreated on every
// rollout (its database lives in the pod), probes patient with a slow JVM,
// and its way in from outside.
func NewAntaeus(ctx *pulumi.Context, name string, args *AntaeusArgs, opts ...pulumi.ResourceOption) (*Antaeus, error) {
	a := &Antaeus{}
	if err := ctx.RegisterComponentResource("tinjis:index:Antaeus", name, a, opts...); err != nil {
		return nil, err
	}
	w, ns := args.Workload, args.Namespace.Metadata.Name().Elem()
	parent := pulumi.Parent(a)
	flavor := args.Config.Flavor

	var err error
	a.Deployment, err = newDeployment(ctx, w, ns, deploymentArgs{
		image:     args.Config.Image,
		resources: args.Config.Resources,
		env:       corev1.EnvVarArray{corev1.EnvVarArgs{Name: pulumi.String("PAYMENT_PROVIDER_ENDPOINT"), Value: args.PaymentsEndpoint}},
		// Config allows exactly one replica, and never two pods at once:
		// each would hold its own database.
		replicas: *args.Config.Replicas,
		strategy: appsv1.DeploymentStrategyArgs{Type: pulumi.String("Recreate")},
		startup:  startupProbe(flavor),
		// Out of rotation after 30 s without an answer; never restarted for it.
		readiness: promptProbe(healthPath, 30),
		// Every restart loses the whole database: only a process that has
		// stopped accepting connections for two minutes is restarted.
		liveness: corev1.ProbeArgs{
			TcpSocket:        corev1.TCPSocketActionArgs{Port: pulumi.String(httpPortName)},
			PeriodSeconds:    pulumi.Int(20),
			TimeoutSeconds:   pulumi.Int(5),
			FailureThreshold: pulumi.Int(6),
		},
		// The rollout counts as stuck only once the startup budget is spent.
		progressDeadlineSeconds: pulumi.Int(startupBudget(flavor) + 300),
		scratchDir:              scratchDir,
		timeouts:                rolloutTimeouts(flavor),
	}, parent)
	if err != nil {
		return nil, err
	}
	exposed, err := expose(ctx, w, ns, args.Expose, parent)
	if err != nil {
		return nil, err
	}
	a.Service, a.Ingress, a.HTTPRoute, a.URL = exposed.Service, exposed.Ingress, exposed.HTTPRoute, exposed.URL
	if err := isolateAntaeus(ctx, args, parent); err != nil {
		return nil, err
	}
	if err := newDeployers(ctx, w, ns, a.Deployment, args.DeployRights, parent); err != nil {
		return nil, err
	}

	if err := ctx.RegisterResourceOutputs(a, pulumi.Map{
		"deployment": a.Deployment.Metadata.Name(),
		"service":    a.Service.Metadata.Name(),
		"url":        a.URL,
	}); err != nil {
		return nil, err
	}
	return a, nil
}

// isolateAntaeus lets in only the gateway's data plane or the ingress
// controller (or anyone, when exposed directly) and lets out only DNS,
// payments, and the internet when the image downloads at start.
func isolateAntaeus(ctx *pulumi.Context, args *AntaeusArgs, opts ...pulumi.ResourceOption) error {
	w, ns := args.Workload, args.Namespace.Metadata.Name().Elem()
	if _, err := newDefaultDeny(ctx, w, ns, opts...); err != nil {
		return err
	}
	var from networkingv1.NetworkPolicyIngressRuleArgs
	switch e := args.Expose; e.Mode {
	case config.ExposeGateway:
		from = fromNetworks(e.Gateway.DataPlaneNamespaceLabels, e.Gateway.DataPlaneCIDRs, w.port)
	case config.ExposeIngress:
		from = fromNetworks(e.Ingress.ControllerNamespaceLabels, nil, w.port)
	default:
		from = fromAnywhere(w.port)
	}
	to := networkingv1.NetworkPolicyEgressRuleArray{toDNS(), toWorkload(args.Payments)}
	if args.Config.Flavor.NeedsInternet() {
		to = append(to, toInternet())
	}
	_, err := newWorkloadPolicy(ctx, w, ns, networkingv1.NetworkPolicyIngressRuleArray{from}, to, opts...)
	return err
}

// startupBudget is how long Antaeus may take to become healthy: the stock
// image downloads Gradle and every dependency first.
func startupBudget(f config.Flavor) int {
	if f.NeedsInternet() {
		return 600
	}
	return 120
}

// rolloutTimeouts let Pulumi wait for a pod that is still within its startup
// budget, beyond the provider's default ten minutes.
func rolloutTimeouts(f config.Flavor) *pulumi.CustomTimeouts {
	wait := fmt.Sprintf("%ds", startupBudget(f)+600)
	return &pulumi.CustomTimeouts{Create: wait, Update: wait}
}

func startupProbe(f config.Flavor) corev1.ProbeArgs {
	probe := promptProbe(healthPath, startupBudget(f))
	// Patient with a JVM still busy starting.
	probe.TimeoutSeconds = pulumi.Int(5)
	return probe
}
