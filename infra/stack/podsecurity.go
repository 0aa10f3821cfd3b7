package stack

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Pod Security Standards levels (https://kubernetes.io/docs/concepts/security/pod-security-standards/).
type podSecurityLevel string

const (
	podSecurityRestricted podSecurityLevel = "restricted"
	podSecurityBaseline   podSecurityLevel = "baseline"
)

// podSecurityVersion pins the policy version so a cluster upgrade cannot
// start refusing pods that were admitted before.
const podSecurityVersion = "v1.32"

// nonRootUser is the UID of the non-root images (distroless "nonroot").
const nonRootUser = 65532

// podSecurityLabels enforce the level on a namespace and make audit and
// warnings report anything the restricted level would refuse.
func podSecurityLabels(enforce podSecurityLevel) map[string]string {
	const prefix = "pod-security.kubernetes.io/"
	return map[string]string{
		prefix + "enforce":         string(enforce),
		prefix + "enforce-version": podSecurityVersion,
		prefix + "audit":           string(podSecurityRestricted),
		prefix + "audit-version":   podSecurityVersion,
		prefix + "warn":            string(podSecurityRestricted),
		prefix + "warn-version":    podSecurityVersion,
	}
}

// restrictedPodSecurity is the pod-level context the restricted level
// requires: a non-root UID and the runtime's default seccomp profile.
func restrictedPodSecurity() corev1.PodSecurityContextArgs {
	return corev1.PodSecurityContextArgs{
		RunAsNonRoot:   pulumi.Bool(true),
		RunAsUser:      pulumi.Int(nonRootUser),
		RunAsGroup:     pulumi.Int(nonRootUser),
		FsGroup:        pulumi.Int(nonRootUser),
		SeccompProfile: runtimeDefaultSeccomp(),
	}
}

// baselinePodSecurity lets the container run as the root user its image
// declares, still under the default seccomp profile.
func baselinePodSecurity() corev1.PodSecurityContextArgs {
	return corev1.PodSecurityContextArgs{SeccompProfile: runtimeDefaultSeccomp()}
}

// restrictedContainerSecurity: read-only root filesystem, no privilege
// escalation, no capabilities.
func restrictedContainerSecurity() corev1.SecurityContextArgs {
	return corev1.SecurityContextArgs{
		AllowPrivilegeEscalation: pulumi.Bool(false),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		RunAsNonRoot:             pulumi.Bool(true),
		Capabilities:             dropAllCapabilities(),
		SeccompProfile:           runtimeDefaultSeccomp(),
	}
}

// baselineContainerSecurity is for an image that writes all over its own
// filesystem as root: it keeps everything else of the restricted context.
func baselineContainerSecurity() corev1.SecurityContextArgs {
	return corev1.SecurityContextArgs{
		AllowPrivilegeEscalation: pulumi.Bool(false),
		ReadOnlyRootFilesystem:   pulumi.Bool(false),
		Capabilities:             dropAllCapabilities(),
		SeccompProfile:           runtimeDefaultSeccomp(),
	}
}

func runtimeDefaultSeccomp() corev1.SeccompProfileArgs {
	return corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")}
}

func dropAllCapabilities() corev1.CapabilitiesArgs {
	return corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}}
}
