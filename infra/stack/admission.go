package stack

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/distribution/reference"
	admissionregistrationv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/admissionregistration/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
)

// RestartedAtAnnotation is what `kubectl rollout restart` sets on the pod
// template; the only pod template change besides images a developer makes.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// ImageRuleMarker starts the message of the policy's image rule, so a test
// can find that rule and remove it (the mutation test).
const ImageRuleMarker = "container images must be"

// imageRule is which images a developer may roll out: tags or digests of
// the repository of the service's configured image.
type imageRule struct {
	// repositories are the spellings of one repository (for Docker Hub
	// both pleo-antaeus and docker.io/library/pleo-antaeus).
	repositories []string
	digestsOnly  bool
}

func newImageRule(configured string, digestsOnly bool) (imageRule, error) {
	named, err := reference.ParseNormalizedNamed(configured)
	if err != nil {
		return imageRule{}, fmt.Errorf("image %q: %w", configured, err)
	}
	r := imageRule{repositories: []string{reference.FamiliarName(named)}, digestsOnly: digestsOnly}
	if full := named.Name(); full != r.repositories[0] {
		r.repositories = append(r.repositories, full)
	}
	return r, nil
}

// pattern is an RE2 expression matching exactly the allowed references:
// the repository, then a tag, a digest or both (only a digest or both when
// digests are required). A longer repository name (payments-evil) does not
// match.
func (r imageRule) pattern() string {
	quoted := make([]string, len(r.repositories))
	for i, repo := range r.repositories {
		quoted[i] = regexp.QuoteMeta(repo)
	}
	const tag, digest = `:[\w][\w.-]{0,127}`, `@sha256:[a-f0-9]{64}`
	suffix := "(?:" + tag + ")?" + digest
	if !r.digestsOnly {
		suffix = "(?:" + tag + "|" + tag + digest + "|" + digest + ")"
	}
	return "^(?:" + strings.Join(quoted, "|") + ")" + suffix + "$"
}

func (r imageRule) String() string {
	if r.digestsOnly {
		return "a digest of " + r.repositories[0]
	}
	return "a tag or digest of " + r.repositories[0]
}

// validation is one check of a developer's update, as a CEL expression
// that holds when the update passes, and the message when it does not.
type validation struct {
	expression, message string
}

// Paths of the pod template in the updated Deployment and before.
const (
	newTemplate = "object.spec.template"
	oldTemplate = "oldObject.spec.template"
)

// serverWrittenMetadata are the fields of a Deployment's metadata that
// change on any update, whoever sends it, because the API server writes
// them before admission; every other metadata field must stay as it was.
// Measured on a live API server for kubectl set image, strategic merge
// patches and PUTs with and without a resourceVersion: only these two
// differ (resourceVersion is still the old one when admission runs).
var serverWrittenMetadata = []string{
	// Counts changes of the spec: an image change bumps it.
	"generation",
	// The field manager records which client set which field, on every
	// update (kubectl set image adds its own entry).
	"managedFields",
}

// Classes of fields a developer may not change, as the policy's messages
// name them.
const (
	ClassOwnerReferences = "the Deployment's ownerReferences"
	ClassFinalizers      = "the Deployment's finalizers"
)

// imageOnlyValidations are the checks of a developer's update: every class
// of fields but the container images and the restart annotation stays as it
// was, and every image that changes follows the image rule. Each message
// names the class of fields and the rule.
func imageOnlyValidations(images imageRule) []validation {
	rule := "developers may change only the container images and the " + RestartedAtAnnotation + " annotation"
	unchangedClass := func(class, expression string) validation {
		return validation{expression: expression, message: class + " may not change: " + rule}
	}
	const meta, oldMeta = "object.metadata", "oldObject.metadata"
	namedMetadata := []string{"labels", "annotations", "ownerReferences", "finalizers"}
	return []validation{
		unchangedClass("the Deployment's labels and annotations",
			unchanged(meta, oldMeta, "labels")+" && "+unchanged(meta, oldMeta, "annotations")),
		// An owner that does not exist makes the garbage collector delete
		// the Deployment; a finalizer blocks its deletion.
		unchangedClass(ClassOwnerReferences, unchanged(meta, oldMeta, "ownerReferences")),
		unchangedClass(ClassFinalizers, unchanged(meta, oldMeta, "finalizers")),
		unchangedClass("the rest of the Deployment's metadata",
			sameExcept(meta, oldMeta, append(namedMetadata, serverWrittenMetadata...)...)),
		unchangedClass("replicas", unchanged("object.spec", "oldObject.spec", "replicas")),
		unchangedClass("the rollout settings (strategy, selector, paused, revision history, ...)",
			sameExcept("object.spec", "oldObject.spec", "template", "replicas")),
		unchangedClass("the pod template's labels and annotations other than "+RestartedAtAnnotation,
			sameExcept(newTemplate+".metadata", oldTemplate+".metadata", "annotations")+" && "+
				sameExcept("variables.newAnnotations", "variables.oldAnnotations", RestartedAtAnnotation)),
		unchangedClass("the pod's settings (service account, security context, volumes, placement, ...)",
			sameExcept(newTemplate+".spec", oldTemplate+".spec", "containers", "initContainers")),
		unchangedClass("the containers apart from their image (command, args, env, ports, resources, probes, security context, ...)",
			sameContainersExceptImage("variables.newContainers", "variables.oldContainers")+" && "+
				sameContainersExceptImage("variables.newInitContainers", "variables.oldInitContainers")),
		{
			expression: imagesFollow("variables.newContainers", "variables.oldContainers", images) + " && " +
				imagesFollow("variables.newInitContainers", "variables.oldInitContainers", images),
			message: ImageRuleMarker + " " + images.String() + ": " + rule,
		},
	}
}

// requestsFor matches the operations on one resource (not its
// subresources).
func requestsFor(group, version, resource string, operations ...string) admissionregistrationv1.MatchResourcesArgs {
	return admissionregistrationv1.MatchResourcesArgs{
		ResourceRules: admissionregistrationv1.NamedRuleWithOperationsArray{
			admissionregistrationv1.NamedRuleWithOperationsArgs{
				ApiGroups:   pulumi.ToStringArray([]string{group}),
				ApiVersions: pulumi.ToStringArray([]string{version}),
				Operations:  pulumi.ToStringArray(operations),
				Resources:   pulumi.ToStringArray([]string{resource}),
			},
		},
	}
}

// validationArgs declares the checks; each refusal is a 403 Forbidden.
func validationArgs(checks []validation) admissionregistrationv1.ValidationArray {
	var args admissionregistrationv1.ValidationArray
	for _, v := range checks {
		args = append(args, admissionregistrationv1.ValidationArgs{
			Expression: pulumi.String(v.expression),
			Message:    pulumi.String(v.message),
			Reason:     pulumi.String("Forbidden"),
		})
	}
	return args
}

// imageOnlyVariables name the optional parts of the pod template, empty
// when absent, so the rules need no has() of their own.
func imageOnlyVariables() admissionregistrationv1.VariableArray {
	optional := func(name, parent, field, empty string) admissionregistrationv1.VariableArgs {
		return admissionregistrationv1.VariableArgs{
			Name:       pulumi.String(name),
			Expression: pulumi.Sprintf("has(%[1]s.%[2]s) ? %[1]s.%[2]s : %[3]s", parent, field, empty),
		}
	}
	return admissionregistrationv1.VariableArray{
		optional("newAnnotations", newTemplate+".metadata", "annotations", "{}"),
		optional("oldAnnotations", oldTemplate+".metadata", "annotations", "{}"),
		optional("newContainers", newTemplate+".spec", "containers", "[]"),
		optional("oldContainers", oldTemplate+".spec", "containers", "[]"),
		optional("newInitContainers", newTemplate+".spec", "initContainers", "[]"),
		optional("oldInitContainers", oldTemplate+".spec", "initContainers", "[]"),
	}
}

// unchanged holds when field is absent from both parents or equal in both.
func unchanged(newParent, oldParent, field string) string {
	return fmt.Sprintf("(has(%[1]s.%[3]s) == has(%[2]s.%[3]s) && (!has(%[1]s.%[3]s) || %[1]s.%[3]s == %[2]s.%[3]s))",
		newParent, oldParent, field)
}

// sameExcept holds when two objects (or maps) hold the same keys with the
// same values, apart from the keys listed. It iterates over keys, so a
// field Kubernetes adds later is covered without a change here.
func sameExcept(a, b string, except ...string) string {
	keys := celStrings(except)
	return fmt.Sprintf("(dyn(%[1]s).all(k, k in %[3]s || (k in dyn(%[2]s) && dyn(%[1]s)[k] == dyn(%[2]s)[k])) && dyn(%[2]s).all(k, k in %[3]s || k in dyn(%[1]s)))",
		a, b, keys)
}

// sameContainersExceptImage holds when both lists hold containers of the
// same names, each unchanged apart from its image.
func sameContainersExceptImage(newList, oldList string) string {
	return fmt.Sprintf("(%[1]s.size() == %[2]s.size() && %[1]s.all(c, %[2]s.exists(o, o.name == c.name && %[3]s)))",
		newList, oldList, sameExcept("c", "o", "image"))
}

// imagesFollow holds when every container's image is unchanged or follows
// the rule.
func imagesFollow(newList, oldList string, images imageRule) string {
	return fmt.Sprintf("%[1]s.all(c, !has(c.image) || c.image.matches(%[3]s) || %[2]s.exists(o, o.name == c.name && has(o.image) && o.image == c.image))",
		newList, oldList, celString(images.pattern()))
}

// ClusterControllers are the identities kube-controller-manager updates a
// Deployment (not its status) as. They must change what developers may
// not: a policy that held them to the image rule would block deletions and
// rollbacks.
var ClusterControllers = []string{
	// Every controller, when kube-controller-manager runs without
	// --use-service-account-credentials.
	"system:kube-controller-manager",
	// Removes the ownerReferences of deleted owners and the orphan and
	// foregroundDeletion finalizers, which completes a deletion.
	"system:serviceaccount:kube-system:generic-garbage-collector",
	// Clears the deprecated rollback annotation after rolling back.
	"system:serviceaccount:kube-system:deployment-controller",
}

// notExempt holds for every requester but the deployer's users and groups
// and the cluster's controllers: the policy does not depend on who the
// developers are, so changing the team changes only RBAC.
func notExempt(deployer config.Deployer) string {
	users := append(slices.Clone(deployer.Users), ClusterControllers...)
	expression := "!(request.userInfo.username in " + celStrings(users) + ")"
	if len(deployer.Groups) > 0 {
		expression += " && !request.userInfo.groups.exists(g, g in " + celStrings(deployer.Groups) + ")"
	}
	return expression
}

// celStrings is a CEL list literal of strings; JSON's string escapes are
// valid in CEL.
func celStrings(values []string) string {
	if values == nil {
		values = []string{}
	}
	raw, _ := json.Marshal(values)
	return string(raw)
}

func celString(value string) string {
	raw, _ := json.Marshal(value)
	return string(raw)
}

// newImageOnlyPolicy narrows what RBAC lets anyone do to the service's
// Deployments: an update may change only the container images, to another
// tag or digest of the configured repository, and the rollout-restart
// annotation. RBAC cannot say "only this field"; admission can. It holds
// for every requester but the deployer and the cluster's controllers, so a
// developer is checked from before their RoleBinding exists until after it
// is gone. It returns the binding, which puts the policy in force.
func newImageOnlyPolicy(ctx *pulumi.Context, w workload, namespace pulumi.StringInput, rights DeployRights, opts ...pulumi.ResourceOption) (*admissionregistrationv1.ValidatingAdmissionPolicyBinding, error) {
	images, err := newImageRule(rights.Image, rights.DigestsOnly)
	if err != nil {
		return nil, err
	}
	// Cluster-scoped: the environment is in the name, so stacks sharing a
	// cluster do not collide.
	name := w.namespace() + "-developer-rollouts"
	policy, err := admissionregistrationv1.NewValidatingAdmissionPolicy(ctx, w.name()+"-developer-rollouts", &admissionregistrationv1.ValidatingAdmissionPolicyArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(name), Labels: stringMap(w.labels())},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpecArgs{
			FailurePolicy:    pulumi.String("Fail"),
			MatchConstraints: requestsFor("apps", "*", "deployments", "UPDATE"),
			MatchConditions: admissionregistrationv1.MatchConditionArray{
				admissionregistrationv1.MatchConditionArgs{
					Name:       pulumi.String("not-by-the-deployer-or-the-cluster"),
					Expression: pulumi.String(notExempt(rights.Deployer)),
				},
			},
			Variables:   imageOnlyVariables(),
			Validations: validationArgs(imageOnlyValidations(images)),
		},
	}, opts...)
	if err != nil {
		return nil, err
	}
	return admissionregistrationv1.NewValidatingAdmissionPolicyBinding(ctx, w.name()+"-developer-rollouts", &admissionregistrationv1.ValidatingAdmissionPolicyBindingArgs{
		Metadata: metav1.ObjectMetaArgs{Name: pulumi.String(name), Labels: stringMap(w.labels())},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpecArgs{
			PolicyName:        policy.Metadata.Name().Elem(),
			ValidationActions: pulumi.ToStringArray([]string{"Deny"}),
			MatchResources: admissionregistrationv1.MatchResourcesArgs{
				NamespaceSelector: metav1.LabelSelectorArgs{
					MatchLabels: pulumi.StringMap{namespaceNameLabel: namespace},
				},
			},
		},
	}, opts...)
}
