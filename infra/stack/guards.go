package stack

import (
	admissionregistrationv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/admissionregistration/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
)

// Markers start the messages of the guards' rules, so tests can tell which
// rule refused a request.
const (
	HostAccessMarker  = "pods may not use the node's"
	ExternalIPsMarker = "Services may not add spec.externalIPs"
)

// ClusterGuards are the cluster-wide admission policies of one
// environment (see config.ClusterGuards).
type ClusterGuards struct {
	pulumi.ResourceState
}

// guardRule is one admission policy of the guards, bound where it holds.
type guardRule struct {
	name        string
	resource    string
	operations  []string
	variables   admissionregistrationv1.VariableArray
	validations []validation
	// namespaces selects where the rule holds; nil is everywhere.
	namespaces metav1.LabelSelectorPtrInput
}

// NewClusterGuards declares the guards: no pod with the node's network,
// PID or IPC namespaces or a host port outside the allowed system
// namespaces (NetworkPolicy does not apply to such pods, and a pod in the
// node's PID namespace reads other pods' processes, their environment and
// its secrets included), and no Service adding externalIPs, which would
// capture the traffic of the Service whose address it names
// (CVE-2020-8554). The policies are named after the environment: two
// stacks sharing a cluster each own theirs, and a request must pass both.
func NewClusterGuards(ctx *pulumi.Context, env string, guards config.ClusterGuards, opts ...pulumi.ResourceOption) (*ClusterGuards, error) {
	g := &ClusterGuards{}
	if err := ctx.RegisterComponentResource("tinjis:index:ClusterGuards", "cluster-guards", g, opts...); err != nil {
		return nil, err
	}
	for _, rule := range []guardRule{hostAccessRule(guards), externalIPsRule()} {
		if err := newGuard(ctx, env, rule, pulumi.Parent(g)); err != nil {
			return nil, err
		}
	}
	if err := ctx.RegisterResourceOutputs(g, pulumi.Map{}); err != nil {
		return nil, err
	}
	return g, nil
}

func hostAccessRule(guards config.ClusterGuards) guardRule {
	const where = " outside the namespaces " + config.KeyClusterGuards + ".hostNamespaces lists: NetworkPolicy does not govern it"
	hostNamespace := func(field, what string) validation {
		return validation{
			expression: "!has(object.spec." + field + ") || !object.spec." + field,
			message:    HostAccessMarker + " " + what + " (" + field + ")" + where,
		}
	}
	rule := guardRule{
		name:       "host-access",
		resource:   "pods",
		operations: []string{"CREATE"},
		variables: admissionregistrationv1.VariableArray{
			admissionregistrationv1.VariableArgs{
				Name: pulumi.String("containers"),
				// Ephemeral containers may not declare ports.
				Expression: pulumi.String("object.spec.containers + " +
					"(has(object.spec.initContainers) ? object.spec.initContainers : [])"),
			},
		},
		validations: []validation{
			hostNamespace("hostNetwork", "network"),
			hostNamespace("hostPID", "process namespace"),
			hostNamespace("hostIPC", "IPC namespace"),
			{
				expression: "variables.containers.all(c, !has(c.ports) || c.ports.all(p, !has(p.hostPort) || p.hostPort == 0))",
				message:    HostAccessMarker + " ports (hostPort)" + where,
			},
		},
	}
	if len(guards.HostNamespaces) > 0 {
		rule.namespaces = metav1.LabelSelectorArgs{
			MatchExpressions: metav1.LabelSelectorRequirementArray{
				metav1.LabelSelectorRequirementArgs{
					Key:      pulumi.String(namespaceNameLabel),
					Operator: pulumi.String("NotIn"),
					Values:   pulumi.ToStringArray(guards.HostNamespaces),
				},
			},
		}
	}
	return rule
}

// externalIPsRule refuses what the API server's DenyServiceExternalIPs
// plugin refuses: any new external IP; a Service keeps those it had.
func externalIPsRule() guardRule {
	return guardRule{
		name:       "service-external-ips",
		resource:   "services",
		operations: []string{"CREATE", "UPDATE"},
		validations: []validation{{
			expression: "!has(object.spec.externalIPs) || object.spec.externalIPs.all(ip, " +
				"oldObject != null && has(oldObject.spec.externalIPs) && ip in oldObject.spec.externalIPs)",
			message: ExternalIPsMarker + ": an external IP captures the traffic of any Service at that address (CVE-2020-8554)",
		}},
	}
}

func newGuard(ctx *pulumi.Context, env string, rule guardRule, opts ...pulumi.ResourceOption) error {
	name := partOf + "-" + env + "-" + rule.name
	labels := pulumi.StringMap{labelPartOf: pulumi.String(partOf), labelManagedBy: pulumi.String(managedBy), labelInstance: pulumi.String(partOf + "-" + env)}
	policy, err := admissionregistrationv1.NewValidatingAdmissionPolicy(ctx, rule.name, &admissionregistrationv1.ValidatingAdmissionPolicyArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(name), Labels: labels},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpecArgs{
			FailurePolicy:    pulumi.String("Fail"),
			MatchConstraints: requestsFor("", "v1", rule.resource, rule.operations...),
			Variables:        rule.variables,
			Validations:      validationArgs(rule.validations),
		},
	}, opts...)
	if err != nil {
		return err
	}
	_, err = admissionregistrationv1.NewValidatingAdmissionPolicyBinding(ctx, rule.name, &admissionregistrationv1.ValidatingAdmissionPolicyBindingArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(name), Labels: labels},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpecArgs{
			PolicyName:        policy.Metadata.Name().Elem(),
			ValidationActions: pulumi.ToStringArray([]string{"Deny"}),
			MatchResources:    admissionregistrationv1.MatchResourcesArgs{NamespaceSelector: rule.namespaces},
		},
	}, opts...)
	return err
}
