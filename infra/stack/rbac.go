package stack

import (
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
)

// DeployRights are who may roll out a service with their own credentials,
// and what they may roll out.
type DeployRights struct {
	// Developers are user names as the cluster authenticates them.
	Developers []string
	// Image is the service's configured image: developers may roll out
	// other tags and digests of its repository, nothing else.
	Image string
	// DigestsOnly refuses tags: developers roll out digests.
	DigestsOnly bool
	// Deployer is who may change anything (pulumi up); the image rule holds
	// for everyone else.
	Deployer config.Deployer
}

// deployRightsOf are the rights the config gives on service, whose
// configured image is image.
func deployRightsOf(cfg config.Config, service config.Service, image string) DeployRights {
	return DeployRights{Developers: cfg.DevelopersOf(service), Image: image, DigestsOnly: cfg.DeveloperDigestsOnly, Deployer: *cfg.Deployer}
}

var (
	readVerbs    = []string{"get", "list", "watch"}
	rolloutVerbs = []string{"patch", "update"}
)

// newDeployers lets each named developer roll out the workload with their
// own credentials: read what a rollout shows, and patch this one
// Deployment (kubectl set image, kubectl rollout restart/undo). Nothing
// else: no create or delete, no Secrets, no RBAC, NetworkPolicy or
// namespace writes, and nothing in any other namespace. What RBAC cannot
// say, that an update may change only the images, the admission policy of
// newImageOnlyPolicy says; the binding waits for the policy's binding, so
// pulumi up never grants rights the policy does not check yet (and destroy
// removes them first).
func newDeployers(ctx *pulumi.Context, w workload, namespace pulumi.StringInput, deployment *appsv1.Deployment, rights DeployRights, opts ...pulumi.ResourceOption) error {
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
	policy, err := newImageOnlyPolicy(ctx, w, namespace, rights, opts...)
	if err != nil {
		return err
	}
	developers := rights.Developers
	if len(developers) == 0 {
		return nil
	}
	// One binding for the whole team: the stack stays the same size however
	// many developers the config lists.
	bindingName := roleName + "s"
	subjects := make(rbacv1.SubjectArray, len(developers))
	for i, developer := range developers {
		subjects[i] = rbacv1.SubjectArgs{
			ApiGroup: pulumi.String("rbac.authorization.k8s.io"),
			Kind:     pulumi.String("User"),
			Name:     pulumi.String(developer),
		}
	}
	_, err = rbacv1.NewRoleBinding(ctx, bindingName, &rbacv1.RoleBindingArgs{
		Metadata: objectMeta(w, namespace, bindingName),
		RoleRef: rbacv1.RoleRefArgs{
			ApiGroup: pulumi.String("rbac.authorization.k8s.io"),
			Kind:     pulumi.String("Role"),
			Name:     role.Metadata.Name().Elem(),
		},
		Subjects: subjects,
	}, append(opts, pulumi.DependsOn([]pulumi.Resource{policy}))...)
	return err
}
