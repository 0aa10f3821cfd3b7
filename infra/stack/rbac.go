package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

var (
	readVerbs    = []string{"get", "list", "watch"}
	rolloutVerbs = []string{"patch", "update"}
)

// newDeployers lets each named developer roll out the workload with their
// own credentials: read what a rollout shows, and patch this one
// Deployment (kubectl set image, kubectl rollout restart/undo). Nothing
// else: no create or delete, no Secrets, no RBAC, NetworkPolicy or
// namespace writes, and nothing in any other namespace.
func newDeployers(ctx *pulumi.Context, w workload, namespace pulumi.StringInput, deployment *appsv1.Deployment, developers []string, opts ...pulumi.ResourceOption) error {
	roleName := w.name() + "-deployer"
	role, err := rbacv1.NewRole(ctx, roleName, &rbacv1.RoleArgs{
		Metadata: objectMeta(w, namespace, roleName),
		Rules: rbacv1.PolicyRuleArray{
			rbacv1.PolicyRuleArgs{
				ApiGroups: pulumi.ToStringArray([]string{"apps"}),
				Resources: pulumi.ToStringArray([]string{"deployments", "replicasets"}),
				Verbs:     pulumi.ToStringArray(readVerbs),
			},
			rbacv1.PolicyRuleArgs{
				ApiGroups:     pulumi.ToStringArray([]string{"apps"}),
				Resources:     pulumi.ToStringArray([]string{"deployments"}),
				ResourceNames: pulumi.StringArray{deployment.Metadata.Name().Elem()},
				Verbs:         pulumi.ToStringArray(rolloutVerbs),
			},
			rbacv1.PolicyRuleArgs{
				ApiGroups: pulumi.ToStringArray([]string{""}),
				Resources: pulumi.ToStringArray([]string{"pods", "pods/log", "events", "services", "endpoints"}),
				Verbs:     pulumi.ToStringArray(readVerbs),
			},
			rbacv1.PolicyRuleArgs{
				ApiGroups: pulumi.ToStringArray([]string{"events.k8s.io"}),
				Resources: pulumi.ToStringArray([]string{"events"}),
				Verbs:     pulumi.ToStringArray(readVerbs),
			},
		},
	}, opts...)
	if err != nil {
		return err
	}
	for _, developer := range developers {
		bindingName := roleName + "-" + objectNameFor(developer)
		if _, err := rbacv1.NewRoleBinding(ctx, bindingName, &rbacv1.RoleBindingArgs{
			Metadata: objectMeta(w, namespace, bindingName),
			RoleRef: rbacv1.RoleRefArgs{
				ApiGroup: pulumi.String("rbac.authorization.k8s.io"),
				Kind:     pulumi.String("Role"),
				Name:     role.Metadata.Name().Elem(),
			},
			Subjects: rbacv1.SubjectArray{rbacv1.SubjectArgs{
				ApiGroup: pulumi.String("rbac.authorization.k8s.io"),
				Kind:     pulumi.String("User"),
				Name:     pulumi.String(developer),
			}},
		}, opts...); err != nil {
			return err
		}
	}
	return nil
}

var notInObjectName = regexp.MustCompile(`[^a-z0-9]+`)

// objectNameFor turns a user name (alice@example.com) into a readable part
// of an object name (alice-example-com-1a2b3c4d); the hash keeps names
// that read the same (a.b and a-b) apart.
func objectNameFor(user string) string {
	readable := notInObjectName.ReplaceAllString(strings.ToLower(user), "-")
	readable = strings.Trim(readable[:min(len(readable), 40)], "-")
	sum := sha256.Sum256([]byte(user))
	hash := hex.EncodeToString(sum[:4])
	if readable == "" {
		return hash
	}
	return readable + "-" + hash
}
