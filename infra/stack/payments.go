package stack

import (
	"math"
	"strconv"
	"time"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/payments/server"
)

// terminationGracePeriod outlasts what the server does when told to stop:
// serve while reporting not ready for the drain, then wait for in-flight
// requests up to its shutdown timeout. Only then may the kubelet kill it.
func terminationGracePeriod(drain time.Duration) int {
	const slack = 2 * time.Second
	return int(math.Ceil((drain + server.DefaultConfig().ShutdownTimeout + slack).Seconds()))
}

// PaymentsArgs configure the payments component.
type PaymentsArgs struct {
	Config config.Payments
	// AuthToken is the secret value of Config.AuthToken, if any.
	AuthToken     pulumi.StringOutput
	Namespace     *corev1.Namespace
	Workload      workload
	ClusterDomain string
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

// NewPayments declares the payment provider: its identity, its pods, its
// Service, who may reach it and who may deploy it.
func NewPayments(ctx *pulumi.Context, name string, args *PaymentsArgs, opts ...pulumi.ResourceOption) (*Payments, error) {
	p := &Payments{}
	if err := ctx.RegisterComponentResource("tinjis:index:Payments", name, p, opts...); err != nil {
		return nil, err
	}
	w, ns := args.Workload, args.Namespace.Metadata.Name().Elem()
	parent := pulumi.Parent(p)

	sa, err := newServiceAccount(ctx, w, ns, parent)
	if err != nil {
		return nil, err
	}
	env, err := paymentsEnv(ctx, args, ns, parent)
	if err != nil {
		return nil, err
	}
	replicas := *args.Config.Replicas
	podSpec := corev1.PodSpecArgs{
		ServiceAccountName:            sa.Metadata.Name().Elem(),
		AutomountServiceAccountToken:  pulumi.Bool(false),
		TerminationGracePeriodSeconds: pulumi.Int(terminationGracePeriod(args.Config.DrainPeriod())),
		SecurityContext:               restrictedPodSecurity(),
		Containers: corev1.ContainerArray{corev1.ContainerArgs{
			Name:            pulumi.String(w.name()),
			Image:           pulumi.String(args.Config.Image),
			ImagePullPolicy: pulumi.String(imagePullPolicy),
			Ports:           containerPorts(w),
			Env:             env,
			LivenessProbe:   httpProbe(server.HealthPath, 10, 3),
			ReadinessProbe:  httpProbe(server.ReadyPath, 5, 2),
			Resources:       resourceRequirements(args.Config.Resources),
			SecurityContext: restrictedContainerSecurity(),
		}},
	}
	if replicas > 1 {
		podSpec.TopologySpreadConstraints = spreadOverNodes(w)
	}
	p.Deployment, err = appsv1.NewDeployment(ctx, w.name(), &appsv1.DeploymentArgs{
		Metadata: objectMeta(w, ns, w.name()),
		Spec: appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(replicas),
			Selector: metav1.LabelSelectorArgs{MatchLabels: stringMap(w.selector())},
			// Surge a new pod before stopping an old one: capacity never drops.
			Strategy: appsv1.DeploymentStrategyArgs{
				Type: pulumi.String("RollingUpdate"),
				RollingUpdate: appsv1.RollingUpdateDeploymentArgs{
					MaxUnavailable: pulumi.Int(0),
					MaxSurge:       pulumi.Int(1),
				},
			},
			Template: corev1.PodTemplateSpecArgs{
				Metadata: metav1.ObjectMetaArgs{Labels: stringMap(w.labels())},
				Spec:     podSpec,
			},
		},
	}, parent)
	if err != nil {
		return nil, err
	}
	if replicas > 1 {
		if _, err := policyv1.NewPodDisruptionBudget(ctx, w.name(), &policyv1.PodDisruptionBudgetArgs{
			Metadata: objectMeta(w, ns, w.name()),
			Spec: policyv1.PodDisruptionBudgetSpecArgs{
				MaxUnavailable: pulumi.Int(1),
				Selector:       metav1.LabelSelectorArgs{MatchLabels: stringMap(w.selector())},
			},
		}, parent); err != nil {
			return nil, err
		}
	}
	p.Service, err = newService(ctx, w, ns, "ClusterIP", 0, parent)
	if err != nil {
		return nil, err
	}
	if err := isolatePayments(ctx, args, parent); err != nil {
		return nil, err
	}
	if err := newDeployers(ctx, w, ns, p.Deployment, args.DeployRights, parent); err != nil {
		return nil, err
	}
	p.Endpoint = serviceURL(p.Service, args.ClusterDomain, server.ChargePath)

	if err := ctx.RegisterResourceOutputs(p, pulumi.Map{
		"deployment": p.Deployment.Metadata.Name(),
		"service":    p.Service.Metadata.Name(),
		"endpoint":   p.Endpoint,
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// isolatePayments lets in only the client's pods, only on the service's
// port. Payments itself calls nothing, so it gets no egress at all, DNS
// included.
func isolatePayments(ctx *pulumi.Context, args *PaymentsArgs, opts ...pulumi.ResourceOption) error {
	w, ns := args.Workload, args.Namespace.Metadata.Name().Elem()
	if _, err := newDefaultDeny(ctx, w, ns, opts...); err != nil {
		return err
	}
	_, err := newWorkloadPolicy(ctx, w, ns,
		networkingv1.NetworkPolicyIngressRuleArray{fromWorkload(args.Client, w.port)},
		nil, opts...)
	return err
}

// paymentsEnv is the service's configuration, in the variables the payments
// server reads.
func paymentsEnv(ctx *pulumi.Context, args *PaymentsArgs, ns pulumi.StringInput, opts ...pulumi.ResourceOption) (corev1.EnvVarArray, error) {
	c := args.Config
	env := corev1.EnvVarArray{
		envVar(server.EnvAddr, args.Workload.addr()),
		envVar(server.EnvDrain, c.Drain),
	}
	if c.SuccessRate != nil {
		env = append(env, envVar(server.EnvSuccessRate, strconv.FormatFloat(*c.SuccessRate, 'f', -1, 64)))
	}
	if c.LogLevel != "" {
		env = append(env, envVar(server.EnvLogLevel, c.LogLevel))
	}
	if c.Seed != nil {
		env = append(env, envVar(server.EnvSeed, strconv.FormatInt(*c.Seed, 10)))
	}
	if c.AuthToken == "" {
		return env, nil
	}
	const tokenKey = "token"
	secretName := args.Workload.name() + "-auth"
	secret, err := corev1.NewSecret(ctx, secretName, &corev1.SecretArgs{
		Metadata:   objectMeta(args.Workload, ns, secretName),
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{tokenKey: args.AuthToken},
	}, opts...)
	if err != nil {
		return nil, err
	}
	return append(env, corev1.EnvVarArgs{
		Name: pulumi.String(server.EnvAuthToken),
		ValueFrom: corev1.EnvVarSourceArgs{
			SecretKeyRef: corev1.SecretKeySelectorArgs{
				Name: secret.Metadata.Name(),
				Key:  pulumi.String(tokenKey),
			},
		},
	}), nil
}
