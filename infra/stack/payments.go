package stack

import (
	"math"
	"time"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/payments/routes"
	"github.com/tinjis/tinjis/payments/settings"
)

// PaymentsArgs configure the payments component.
type PaymentsArgs struct {
	Config config.Payments
	// HighAvailability keeps a replica up through a node drain and spreads
	// the replicas over nodes.
	HighAvailability bool
	Namespace        *corev1.Namespace
	Workload         workload
	ClusterDomain    string
	// Client is the only workload allowed to call payments.
	Client peer
	// DeployRights are who may roll it out by hand, and what.
	DeployRights DeployRights
}

// Payments is the payment provider of one environment.
type Payments struct {
	pulumi.ResourceState

	Deployment *appsv1.Deployment
	Service    *corev1.Service
	// Endpoint is the in-cluster URL Antaeus posts charges to.
	Endpoint pulumi.StringOutput
}

// NewPayments declares the payment provider: replicas rolled over with no
// unavailable pod, its Service, who may reach it and who may deploy it.
func NewPayments(ctx *pulumi.Context, name string, args *PaymentsArgs, opts ...pulumi.ResourceOption) (*Payments, error) {
	p := &Payments{}
	if err := ctx.RegisterComponentResource("tinjis:index:Payments", name, p, opts...); err != nil {
		return nil, err
	}
	w, ns := args.Workload, args.Namespace.Metadata.Name().Elem()
	parent := pulumi.Parent(p)

	server := args.Config.Server
	server.Addr, server.MetricsAddr = w.addr(), w.metricsAddr()
	env, err := paymentsEnv(ctx, w, ns, server, parent)
	if err != nil {
		return nil, err
	}
	p.Deployment, err = newDeployment(ctx, w, ns, deploymentArgs{
		image:     args.Config.Image,
		resources: args.Config.Resources,
		env:       env,
		replicas:  *args.Config.Replicas,
		// Surge a new pod before stopping an old one: capacity never drops.
		strategy: appsv1.DeploymentStrategyArgs{
			Type: pulumi.String("RollingUpdate"),
			RollingUpdate: appsv1.RollingUpdateDeploymentArgs{
				MaxUnavailable: pulumi.Int(0),
				MaxSurge:       pulumi.Int(1),
			},
		},
		liveness:                      httpProbe(routes.Health, 10, 3),
		readiness:                     httpProbe(routes.Ready, 5, 2),
		terminationGracePeriodSeconds: pulumi.Int(terminationGracePeriod(server)),
		spreadOverNodes:               args.HighAvailability,
	}, parent)
	if err != nil {
		return nil, err
	}
	if args.HighAvailability {
		if _, err := newDisruptionBudget(ctx, w, ns, parent); err != nil {
			return nil, err
		}
	}
	p.Service, err = newService(ctx, w, ns, clusterOnly, parent)
	if err != nil {
		return nil, err
	}
	if err := isolatePayments(ctx, args, parent); err != nil {
		return nil, err
	}
	if err := newDeployers(ctx, w, ns, p.Deployment, args.DeployRights, parent); err != nil {
		return nil, err
	}
	p.Endpoint = serviceURL(p.Service, args.ClusterDomain, routes.Charge)

	if err := ctx.RegisterResourceOutputs(p, pulumi.Map{
		"deployment": p.Deployment.Metadata.Name(),
		"service":    p.Service.Metadata.Name(),
		"endpoint":   p.Endpoint,
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// terminationGracePeriod outlasts what the server does when told to stop:
// serve while reporting not ready for the drain, then wait for in-flight
// requests up to its shutdown timeout. Only then may the kubelet kill it.
func terminationGracePeriod(server settings.Config) int {
	const slack = 2 * time.Second
	return int(math.Ceil((server.Drain + server.ShutdownTimeout + slack).Seconds()))
}

// newDisruptionBudget lets a node drain evict one payments pod at a time.
func newDisruptionBudget(ctx *pulumi.Context, w workload, ns pulumi.StringInput, opts ...pulumi.ResourceOption) (*policyv1.PodDisruptionBudget, error) {
	return policyv1.NewPodDisruptionBudget(ctx, w.name(), &policyv1.PodDisruptionBudgetArgs{
		Metadata: objectMeta(w, ns, w.name()),
		Spec: policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       metav1.LabelSelectorArgs{MatchLabels: stringMap(w.selector())},
		},
	}, opts...)
}

// isolatePayments lets in only the client's pods, only on the service's
// port, and the configured monitoring sources, only on the metrics port
// (nobody when none is configured). Payments itself calls nothing, so it
// gets no egress at all, DNS included.
func isolatePayments(ctx *pulumi.Context, args *PaymentsArgs, opts ...pulumi.ResourceOption) error {
	w, ns := args.Workload, args.Namespace.Metadata.Name().Elem()
	if _, err := newDefaultDeny(ctx, w, ns, opts...); err != nil {
		return err
	}
	ingress := networkingv1.NetworkPolicyIngressRuleArray{fromWorkload(args.Client, w.port)}
	// An empty From would admit every source: no rule at all admits none.
	if scrapers := args.Config.Metrics.From; !scrapers.Empty() {
		ingress = append(ingress, fromNetworks(scrapers.NamespaceLabels, scrapers.CIDRs, w.metricsPort))
	}
	_, err := newWorkloadPolicy(ctx, w, ns, ingress, nil, opts...)
	return err
}

// paymentsEnv is the server's environment, as settings writes it. The
// token, the one secret setting, reaches the pod through a Secret.
func paymentsEnv(ctx *pulumi.Context, w workload, ns pulumi.StringInput, server settings.Config, opts ...pulumi.ResourceOption) (corev1.EnvVarArray, error) {
	var env corev1.EnvVarArray
	for _, v := range server.Env() {
		if !v.Secret {
			env = append(env, envVar(v.Name, v.Value))
			continue
		}
		const tokenKey = "token"
		secretName := w.name() + "-auth"
		secret, err := corev1.NewSecret(ctx, secretName, &corev1.SecretArgs{
			Metadata:   objectMeta(w, ns, secretName),
			Type:       pulumi.String("Opaque"),
			StringData: pulumi.StringMap{tokenKey: pulumi.ToSecret(pulumi.String(v.Value)).(pulumi.StringOutput)},
		}, opts...)
		if err != nil {
			return nil, err
		}
		env = append(env, corev1.EnvVarArgs{
			Name: pulumi.String(v.Name),
			ValueFrom: corev1.EnvVarSourceArgs{
				SecretKeyRef: corev1.SecretKeySelectorArgs{
					Name: secret.Metadata.Name(),
					Key:  pulumi.String(tokenKey),
				},
			},
		})
	}
	return env, nil
}
