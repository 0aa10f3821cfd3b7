package stack

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
)

// imagePullPolicy pulls an image only when the node lacks it: stacks pin
// digests, and dev clusters run images loaded into the node (such as the
// stock pleo-antaeus:latest).
const imagePullPolicy = "IfNotPresent"

func containerPorts(w workload) corev1.ContainerPortArray {
	return corev1.ContainerPortArray{corev1.ContainerPortArgs{
		Name:          pulumi.String(httpPortName),
		ContainerPort: pulumi.Int(w.port),
		Protocol:      pulumi.String("TCP"),
	}}
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
