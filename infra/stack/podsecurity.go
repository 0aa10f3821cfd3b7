package stack

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// podSecurityLevel is a Pod Security Standards level
// (https://kubernetes.io/docs/concepts/security/pod-security-standards/).
// One value gives a workload's namespace the labels that enforce it and its
// pods and containers the settings that pass it, so the two cannot differ.
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

// namespaceLabels enforce the level on a namespace and make audit and
// warnings report anything the restricted level would refuse.
func (l podSecurityLevel) namespaceLabels() map[string]string {
	const prefix = "pod-security.kubernetes.io/"
	return map[string]string{
		prefix + "enforce":         string(l),
		prefix + "enforce-version": podSecurityVersion,
		prefix + "audit":           string(podSecurityRestricted),
		prefix + "audit-version":   podSecurityVersion,
		prefix + "warn":            string(podSecurityRestricted),
		prefix + "warn-version":    podSecurityVersion,
	}
}

// podContext is the pod-level context the level requires. Restricted: a
// non-root UID and the runtime's default seccomp profile. Baseline lets the
// container run as the root user its image declares, still under the
// default seccomp profile.
func (l podSecurityLevel) podContext() corev1.PodSecurityContextArgs {
	if l == podSecurityBaseline {
		return corev1.PodSecurityContextArgs{SeccompProfile: runtimeDefaultSeccomp()}
	}
	return corev1.PodSecurityContextArgs{
		RunAsNonRoot:   pulumi.Bool(true),
		RunAsUser:      pulumi.Int(nonRootUser),
		RunAsGroup:     pulumi.Int(nonRootUser),
		FsGroup:        pulumi.Int(nonRootUser),
		SeccompProfile: runtimeDefaultSeccomp(),
	}
}

// containerContext is, at every level, no privilege escalation, no
// capabilities and the default seccomp profile. Restricted adds a
// read-only root filesystem and a non-root user; baseline is for an image
// that writes all over its own filesystem as root.
func (l podSecurityLevel) containerContext() corev1.SecurityContextArgs {
	restricted := l != podSecurityBaseline
	sc := corev1.SecurityContextArgs{
		AllowPrivilegeEscalation: pulumi.Bool(false),
		ReadOnlyRootFilesystem:   pulumi.Bool(restricted),
		Capabilities:             corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
		SeccompProfile:           runtimeDefaultSeccomp(),
	}
	if restricted {
		sc.RunAsNonRoot = pulumi.Bool(true)
	}
	return sc
}

func runtimeDefaultSeccomp() corev1.SeccompProfileArgs {
	return corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")}
}
