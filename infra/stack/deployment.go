package stack

import (
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
)

// imagePullPolicy pulls an image only when the node lacks it: stacks pin
// digests, and dev clusters run images loaded into the node (such as the
// stock pleo-antaeus:latest).
const imagePullPolicy = "IfNotPresent"

// deploymentArgs are what a service's Deployment says of its own. What
// every Deployment of the stack shares, newDeployment adds: an identity of
// its own whose token is never mounted, one container named after the
// service with its port named http, the Pod Security level's contexts, and
// the labels and selector of the workload.
type deploymentArgs struct {
	image     string
	resources config.Resources
	env       corev1.EnvVarArray
	replicas  int
	strategy  appsv1.DeploymentStrategyArgs
	// A probe left nil is not declared.
	startup, readiness, liveness corev1.ProbePtrInput
	// Optional: nil keeps the Kubernetes default.
	progressDeadlineSeconds       pulumi.IntPtrInput
	terminationGracePeriodSeconds pulumi.IntPtrInput
	// spreadOverNodes keeps replicas on different nodes where it can.
	spreadOverNodes bool
	// scratchDir, when set, is a writable emptyDir mounted at that path.
	scratchDir string
	// timeouts, when set, bound how long Pulumi waits for a rollout.
	timeouts *pulumi.CustomTimeouts
}

// newDeployment declares the workload's ServiceAccount and Deployment.
func newDeployment(ctx *pulumi.Context, w workload, namespace pulumi.StringInput, args deploymentArgs, opts ...pulumi.ResourceOption) (*appsv1.Deployment, error) {
	sa, err := newServiceAccount(ctx, w, namespace, opts...)
	if err != nil {
		return nil, err
	}
	container := corev1.ContainerArgs{
		Name:            pulumi.String(w.name()),
		Image:           pulumi.String(args.image),
		ImagePullPolicy: pulumi.String(imagePullPolicy),
		Ports:           containerPorts(w),
		Env:             args.env,
		StartupProbe:    args.startup,
		ReadinessProbe:  args.readiness,
		LivenessProbe:   args.liveness,
		Resources:       resourceRequirements(args.resources),
		SecurityContext: w.podSecurity.containerContext(),
	}
	pod := corev1.PodSpecArgs{
		ServiceAccountName:            sa.Metadata.Name().Elem(),
		AutomountServiceAccountToken:  pulumi.Bool(false),
		TerminationGracePeriodSeconds: args.terminationGracePeriodSeconds,
		SecurityContext:               w.podSecurity.podContext(),
	}
	if args.spreadOverNodes {
		pod.TopologySpreadConstraints = spreadOverNodes(w)
	}
	if args.scratchDir != "" {
		const scratchVolume = "tmp"
		container.VolumeMounts = corev1.VolumeMountArray{corev1.VolumeMountArgs{
			Name:      pulumi.String(scratchVolume),
			MountPath: pulumi.String(args.scratchDir),
		}}
		pod.Volumes = corev1.VolumeArray{corev1.VolumeArgs{
			Name:     pulumi.String(scratchVolume),
			EmptyDir: corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String("1Gi")},
		}}
	}
	pod.Containers = corev1.ContainerArray{container}
	if args.timeouts != nil {
		opts = append(opts, pulumi.Timeouts(args.timeouts))
	}
	return appsv1.NewDeployment(ctx, w.name(), &appsv1.DeploymentArgs{
		Metadata: objectMeta(w, namespace, w.name()),
		Spec: appsv1.DeploymentSpecArgs{
			Replicas:                pulumi.Int(args.replicas),
			Selector:                metav1.LabelSelectorArgs{MatchLabels: stringMap(w.selector())},
			Strategy:                args.strategy,
			ProgressDeadlineSeconds: args.progressDeadlineSeconds,
			Template: corev1.PodTemplateSpecArgs{
				Metadata: metav1.ObjectMetaArgs{Labels: stringMap(w.labels())},
				Spec:     pod,
			},
		},
	}, opts...)
}

// newServiceAccount gives the workload an identity of its own, whose token
// is never mounted: neither service talks to the Kubernetes API.
func newServiceAccount(ctx *pulumi.Context, w workload, namespace pulumi.StringInput, opts ...pulumi.ResourceOption) (*corev1.ServiceAccount, error) {
	return corev1.NewServiceAccount(ctx, w.name(), &corev1.ServiceAccountArgs{
		Metadata:                     objectMeta(w, namespace, w.name()),
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, opts...)
}

func containerPorts(w workload) corev1.ContainerPortArray {
	var ports corev1.ContainerPortArray
	for _, p := range w.ports() {
		ports = append(ports, corev1.ContainerPortArgs{
			Name:          pulumi.String(p.name),
			ContainerPort: pulumi.Int(p.number),
			Protocol:      pulumi.String("TCP"),
		})
	}
	return ports
}

func envVar(name, value string) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{Name: pulumi.String(name), Value: pulumi.String(value)}
}

// httpProbe GETs path on the http port every periodSeconds, and fails after
// failureThreshold misses in a row.
func httpProbe(path string, periodSeconds, failureThreshold int) corev1.ProbeArgs {
	return corev1.ProbeArgs{
		HttpGet: corev1.HTTPGetActionArgs{
			Path: pulumi.String(path),
			Port: pulumi.String(httpPortName),
		},
		PeriodSeconds:    pulumi.Int(periodSeconds),
		TimeoutSeconds:   pulumi.Int(2),
		FailureThreshold: pulumi.Int(failureThreshold),
	}
}

// spreadOverNodes keeps replicas on different nodes where it can, without
// refusing to schedule on a one-node cluster.
func spreadOverNodes(w workload) corev1.TopologySpreadConstraintArray {
	return corev1.TopologySpreadConstraintArray{corev1.TopologySpreadConstraintArgs{
		MaxSkew:           pulumi.Int(1),
		TopologyKey:       pulumi.String("kubernetes.io/hostname"),
		WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
		LabelSelector:     metav1.LabelSelectorArgs{MatchLabels: stringMap(w.selector())},
	}}
}

func resourceRequirements(r config.Resources) corev1.ResourceRequirementsArgs {
	return corev1.ResourceRequirementsArgs{
		Requests: pulumi.StringMap{"cpu": pulumi.String(r.Requests.CPU), "memory": pulumi.String(r.Requests.Memory)},
		Limits:   pulumi.StringMap{"cpu": pulumi.String(r.Limits.CPU), "memory": pulumi.String(r.Limits.Memory)},
	}
}
