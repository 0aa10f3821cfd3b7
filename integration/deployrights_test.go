package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/stack"
	"github.com/tinjis/tinjis/integration/controlplane"
	"github.com/tinjis/tinjis/integration/internal/pulumistack"
)

// TestDeployRightsOnALiveCluster deploys the dev stack and then tries, as
// its developers with their own credentials, every kind of change to the
// Deployments: only an image of the configured repository (and a restart)
// is admitted. Then it checks the drift a hand rollout leaves is visible,
// that `pulumi up` (the deployer identity) is not blocked, and that the
// matrix would catch a policy without its image rule. The steps share the
// stack, so they run in order and stop at the first that fails.
func TestDeployRightsOnALiveCluster(t *testing.T) {
	cp := controlplane.StartForTest(t)
	k := newKube(t, cp)
	s := &liveStack{name: "dev", stack: pulumistack.New(t, "dev")}
	pulumistack.Apply(t, s.stack, clusterOverrides(cp, loadConfig(t, s))...)
	s.cfg = loadConfig(t, s)
	for _, user := range allUsers([]*liveStack{s}) {
		if _, err := cp.AddUser(user); err != nil {
			t.Fatal(err)
		}
	}
	alice := developerOfOnly(t, s.cfg, config.ServicePayments)
	bob := developerOfOnly(t, s.cfg, config.ServiceAntaeus)
	aliceImage := cp.Images().Payments.PinnedRef()

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"pulumi up of dev succeeds", func(t *testing.T) {
			up(t, s)
		}},
		{"the admission policies type-check against Deployments and are enforced", func(t *testing.T) {
			k.checkPoliciesTypeCheck(t, s)
			for _, developer := range []struct {
				user    string
				service config.Service
			}{{alice, config.ServicePayments}, {bob, config.ServiceAntaeus}} {
				d := k.stackDeployment(t, s, developer.service)
				k.waitUntilRefused(t, cp, developer.user, d, foreignImageChange.args(d))
			}
		}},
		{"developers may change only the image, to one of the configured repository", func(t *testing.T) {
			var attacks []attack
			for _, c := range deployRightsCases(alice, bob, aliceImage) {
				d := k.stackDeployment(t, s, c.service)
				r := c.run(t, cp, d)
				attacks = append(attacks, r.attack())
				// logAttacks judges the outcome; here, the refusal's words.
				if err := c.judge(r); err != nil && r.outcome == c.want {
					t.Error(err)
				}
				if c.rollsOut != "" && r.outcome == admitted {
					kubectl(t, cp.Kubeconfig(c.developer), "-n", d.Namespace, "rollout", "status", "deployment/"+d.Name, "--timeout=2m")
					k.checkRolledOut(t, d.Namespace, d.Name, c.rollsOut)
				}
			}
			logAttacks(t, "Developers' attempts on the Deployments, as the API server answers them", attacks)
		}},
		{"after the refused metadata changes both Deployments are untouched and Available", func(t *testing.T) {
			for _, service := range config.Services {
				d := k.stackDeployment(t, s, service)
				if len(d.OwnerReferences) > 0 || len(d.Finalizers) > 0 {
					t.Errorf("%s/%s has ownerReferences %v and finalizers %v after the developers' attempts", d.Namespace, d.Name, d.OwnerReferences, d.Finalizers)
				}
				k.checkAvailable(t, d)
			}
		}},
		{"the cluster's controllers are exempt by the names the controller-manager uses, and complete a foreground deletion", func(t *testing.T) {
			k.checkControllerIdentities(t)
			k.checkForegroundDeletion(t, k.stackDeployment(t, s, config.ServicePayments).Namespace)
		}},
		{"adding and removing a developer opens no window: a forbidden change hammered through every pulumi up is never admitted", func(t *testing.T) {
			checkTeamChangesOpenNoWindow(t, cp, k, s)
		}},
		{"the drift check fails after alice's rollout, naming her image", func(t *testing.T) {
			out, err := driftCheck(t, s)
			if err == nil {
				t.Fatalf("preview --refresh --expect-no-changes passed although payments runs %s by hand:\n%s", aliceImage, out)
			}
			// The update the next `pulumi up` would make: her image back to the stack's.
			revert := fmt.Sprintf("image: %q => %q", aliceImage, s.cfg.Payments.Image)
			if !strings.Contains(out, revert) {
				t.Errorf("the drift check failed without showing %s:\n%s", revert, out)
			}
			t.Logf("the drift check fails; its changes:\n%s", changedLines(out))
		}},
		{"after recording alice's image in the stack config the drift check passes", func(t *testing.T) {
			pulumistack.Apply(t, s.stack, pulumistack.Override{Path: config.KeyPayments + ".image", Value: aliceImage})
			if out, err := driftCheck(t, s); err != nil {
				t.Fatalf("preview --refresh --expect-no-changes: %v\n%s", err, out)
			}
		}},
		{"the deployer identity changes replicas through pulumi up", func(t *testing.T) {
			pulumistack.Apply(t, s.stack, pulumistack.Override{Path: config.KeyPayments + ".replicas", Value: "2"})
			up(t, s)
			d := k.stackDeployment(t, s, config.ServicePayments)
			if got := ptr.Deref(d.Spec.Replicas, 1); got != 2 {
				t.Fatalf("payments has %d replicas after pulumi up set 2", got)
			}
			controlplane.WaitUntil(t, waitTimeout, "payments has 2 available replicas", func(ctx context.Context) (bool, error) {
				d, err := k.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
				return err == nil && d.Status.AvailableReplicas == 2, err
			})
		}},
		{"a policy without its image rule lets a foreign image through, and the matrix catches it", func(t *testing.T) {
			d := k.stackDeployment(t, s, config.ServicePayments)
			k.removeImageRule(t, d.Namespace)
			c := rightsCase{developer: alice, service: config.ServicePayments, change: foreignImageChange, want: refusedByPolicy, wantClass: stack.ImageRuleMarker}
			controlplane.WaitUntil(t, waitTimeout, "the mutated policy admits a foreign image", func(ctx context.Context) (bool, error) {
				out, err := kubectlResult(cp.Kubeconfig(alice), append([]string{"-n", d.Namespace}, append(c.change.args(d), "--dry-run=server")...)...)
				return classify(out, err) == admitted, nil
			})
			r := c.run(t, cp, d)
			err := c.judge(r)
			if err == nil {
				t.Fatalf("with the image rule removed, the matrix still judged %q as expected: the test cannot catch a missing image rule", r.outcome)
			}
			t.Logf("mutation caught: %v", err)
		}},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			t.FailNow()
		}
	}
}

func up(t *testing.T, s *liveStack) {
	t.Helper()
	var out bytes.Buffer
	if _, err := s.stack.Up(t.Context(), optup.ProgressStreams(&out)); err != nil {
		t.Fatalf("pulumi up %s: %v\n%s", s.name, err, out.String())
	}
	objects, err := pulumistack.Objects(t.Context(), s.stack)
	if err != nil {
		t.Fatal(err)
	}
	s.objects = objects
}

// driftCheck is what `make drift` and the drift workflow run: a preview
// that refreshes from the cluster first and fails on any change.
func driftCheck(t *testing.T, s *liveStack) (string, error) {
	t.Helper()
	var out bytes.Buffer
	_, err := s.stack.Preview(t.Context(), optpreview.Refresh(), optpreview.ExpectNoChanges(), optpreview.Diff(), optpreview.ProgressStreams(&out))
	return out.String(), err
}

// changedLines are the lines of a preview's plan that change a value,
// leaving out what the refresh before it read.
func changedLines(preview string) string {
	var changed []string
	inPlan := false
	for line := range strings.Lines(preview) {
		inPlan = inPlan || strings.HasSuffix(strings.TrimSpace(line), ": (update)")
		if inPlan && strings.Contains(line, " => ") {
			changed = append(changed, strings.TrimSpace(line))
		}
	}
	return strings.Join(changed, "\n")
}

// outcome is how the API server answered a developer's change.
type outcome string

const (
	admitted        outcome = "admitted"
	refusedByPolicy outcome = "refused by the policy"
	forbiddenByRBAC outcome = "403 by RBAC"
)

// classify tells the answer from kubectl's output: the admission policy's
// denial names it; RBAC's says the user cannot do the verb.
func classify(out string, err error) outcome {
	switch {
	case err == nil:
		return admitted
	case strings.Contains(out, "ValidatingAdmissionPolicy"):
		return refusedByPolicy
	case strings.Contains(out, "(Forbidden)") && strings.Contains(out, "cannot"):
		return forbiddenByRBAC
	}
	return outcome("failed: " + strings.TrimSpace(out))
}

// change is one kind of change a developer tries, as kubectl arguments for
// the Deployment.
type change struct {
	kind string
	args func(d *appsv1.Deployment) []string
}

func containerName(d *appsv1.Deployment) string { return d.Spec.Template.Spec.Containers[0].Name }

// foreignImageChange is an image of the same path on another registry.
var foreignImageChange = change{"set image (another registry)", func(d *appsv1.Deployment) []string {
	return []string{"set", "image", "deployment/" + d.Name, containerName(d) + "=registry.example.com/" + d.Name + "@" + testDigest("foreign")}
}}

func imageChange(kind, image string) change {
	return change{kind, func(d *appsv1.Deployment) []string {
		return []string{"set", "image", "deployment/" + d.Name, containerName(d) + "=" + image}
	}}
}

func jsonPatch(kind, patch string) change {
	return change{kind, func(d *appsv1.Deployment) []string {
		return []string{"patch", "deployment/" + d.Name, "--type=json", "-p", patch}
	}}
}

func kubectlChange(kind string, args ...string) change {
	return change{kind, func(d *appsv1.Deployment) []string {
		return append([]string{args[0], args[1], "deployment/" + d.Name}, args[2:]...)
	}}
}

func testDigest(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// rightsCase is one cell of the matrix: a developer tries a change on a
// service's Deployment and expects an outcome.
type rightsCase struct {
	developer string
	service   config.Service
	change    change
	want      outcome
	// wantClass is a part of the policy's message naming what may not change.
	wantClass string
	// rollsOut is the image the change rolls out, when it does.
	rollsOut string
}

type rightsResult struct {
	rightsCase
	outcome outcome
	message string
}

func (c rightsCase) run(t *testing.T, cp *controlplane.ControlPlane, d *appsv1.Deployment) rightsResult {
	t.Helper()
	out, err := kubectlResult(cp.Kubeconfig(c.developer), append([]string{"-n", d.Namespace}, c.change.args(d)...)...)
	return rightsResult{rightsCase: c, outcome: classify(out, err), message: strings.TrimSpace(out)}
}

func (c rightsCase) judge(r rightsResult) error {
	if r.outcome != c.want {
		return fmt.Errorf("%s: %s on %s was %s, want %s\n%s", c.developer, c.change.kind, c.service, r.outcome, c.want, r.message)
	}
	if c.want == refusedByPolicy && !strings.Contains(r.message, c.wantClass) {
		return fmt.Errorf("%s: %s on %s was refused without naming %q:\n%s", c.developer, c.change.kind, c.service, c.wantClass, r.message)
	}
	return nil
}

// The field classes the policy's messages name.
const (
	classReplicas        = "replicas may not change"
	classContainers      = "the containers apart from their image"
	classPod             = "the pod's settings"
	classMetadata        = "the Deployment's labels and annotations"
	classTemplate        = "the pod template's labels"
	classOwnerReferences = stack.ClassOwnerReferences + " may not change"
	classFinalizers      = stack.ClassFinalizers + " may not change"
)

// ownerReferencesPatch makes the Deployment a dependent of an owner that
// does not exist: the garbage collector would delete it.
const ownerReferencesPatch = `[{"op":"add","path":"/metadata/ownerReferences","value":[{"apiVersion":"v1","kind":"ConfigMap","name":"gone","uid":"00000000-0000-0000-0000-000000000001"}]}]`

// verbOnDeployment runs kubectl verb deployment/<name> rest...
func verbOnDeployment(kind, verb string, rest ...string) change {
	return change{kind, func(d *appsv1.Deployment) []string {
		return append([]string{verb, "deployment/" + d.Name}, rest...)
	}}
}

// otherCommand runs kubectl args that name no Deployment, in its namespace.
func otherCommand(kind string, args ...string) change {
	return change{kind, func(*appsv1.Deployment) []string { return args }}
}

// deployRightsCases are the matrix: alice deploys payments only, bob
// Antaeus only.
func deployRightsCases(alice, bob, aliceImage string) []rightsCase {
	payments, antaeus := config.ServicePayments, config.ServiceAntaeus
	return []rightsCase{
		{alice, payments, imageChange("set image (configured repository, by digest)", aliceImage), admitted, "", aliceImage},
		{alice, payments, foreignImageChange, refusedByPolicy, stack.ImageRuleMarker, ""},
		{alice, payments, kubectlChange("kubectl scale", "scale", "--replicas=3"), forbiddenByRBAC, "", ""},
		{alice, payments, jsonPatch("patch replicas", `[{"op":"replace","path":"/spec/replicas","value":3}]`), refusedByPolicy, classReplicas, ""},
		{alice, payments, jsonPatch("patch command", `[{"op":"add","path":"/spec/template/spec/containers/0/command","value":["/bin/sh","-c","env"]}]`), refusedByPolicy, classContainers, ""},
		{alice, payments, kubectlChange("set env", "set", "env", "EXTRA=1"), refusedByPolicy, classContainers, ""},
		{alice, payments, jsonPatch("patch security context", `[{"op":"replace","path":"/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem","value":false}]`), refusedByPolicy, classContainers, ""},
		{alice, payments, kubectlChange("set serviceaccount", "set", "serviceaccount", "default"), refusedByPolicy, classPod, ""},
		{alice, payments, jsonPatch("patch ownerReferences (an owner that does not exist)", ownerReferencesPatch), refusedByPolicy, classOwnerReferences, ""},
		{alice, payments, jsonPatch("add a finalizer", `[{"op":"add","path":"/metadata/finalizers","value":["example.com/hold"]}]`), refusedByPolicy, classFinalizers, ""},
		{alice, payments, jsonPatch("add the orphan finalizer", `[{"op":"add","path":"/metadata/finalizers","value":["orphan"]}]`), refusedByPolicy, classFinalizers, ""},
		{alice, payments, jsonPatch("label the Deployment", `[{"op":"add","path":"/metadata/labels/team","value":"alice"}]`), refusedByPolicy, classMetadata, ""},
		{alice, payments, jsonPatch("label the pod template", `[{"op":"add","path":"/spec/template/metadata/labels/team","value":"alice"}]`), refusedByPolicy, classTemplate, ""},
		{alice, payments, jsonPatch("add a sidecar (the allowed repository)", `[{"op":"add","path":"/spec/template/spec/containers/-","value":{"name":"sidecar","image":"`+aliceImage+`"}}]`), refusedByPolicy, classContainers, ""},
		{alice, payments, jsonPatch("add an initContainer (the allowed repository)", `[{"op":"add","path":"/spec/template/spec/initContainers","value":[{"name":"init","image":"`+aliceImage+`"}]}]`), refusedByPolicy, classContainers, ""},
		{alice, payments, jsonPatch("patch hostNetwork", `[{"op":"add","path":"/spec/template/spec/hostNetwork","value":true}]`), refusedByPolicy, classPod, ""},
		{alice, payments, otherCommand("create a pod", "run", "intruder", "--image="+aliceImage), forbiddenByRBAC, "", ""},
		{alice, payments, verbOnDeployment("delete the Deployment", "delete"), forbiddenByRBAC, "", ""},
		{alice, payments, verbOnDeployment("exec into its pod", "exec", "--", "true"), forbiddenByRBAC, "", ""},
		{alice, payments, otherCommand("read Secrets", "get", "secrets"), forbiddenByRBAC, "", ""},
		{alice, payments, otherCommand("delete the admission policies", "delete", "validatingadmissionpolicies", "--all"), forbiddenByRBAC, "", ""},
		{alice, payments, otherCommand("impersonate the admin", "--as="+controlplane.AdminUser, "get", "secrets"), forbiddenByRBAC, "", ""},
		{alice, payments, kubectlChange("rollout restart", "rollout", "restart"), admitted, "", ""},
		{alice, payments, kubectlChange("rollout undo", "rollout", "undo"), admitted, "", ""},
		{alice, antaeus, imageChange("set image (configured repository, by digest)", aliceImage), forbiddenByRBAC, "", ""},
		{bob, antaeus, foreignImageChange, refusedByPolicy, stack.ImageRuleMarker, ""},
		{bob, antaeus, jsonPatch("patch replicas", `[{"op":"replace","path":"/spec/replicas","value":2}]`), refusedByPolicy, classReplicas, ""},
		{bob, antaeus, jsonPatch("patch ownerReferences (an owner that does not exist)", ownerReferencesPatch), refusedByPolicy, classOwnerReferences, ""},
		{bob, payments, foreignImageChange, forbiddenByRBAC, "", ""},
	}
}

// attack is the result as a row of the attack table.
func (r rightsResult) attack() attack {
	return attack{attacker: r.developer, target: string(r.service), action: r.change.kind, expected: r.want, observed: r.outcome, message: r.message}
}

// denialReason is the part of a refusal that says why, cut short.
func denialReason(message string) string {
	if _, after, ok := strings.Cut(message, "denied request: "); ok {
		message = after
	} else if _, after, ok := strings.Cut(message, "is forbidden: "); ok {
		message = after
	}
	if reason, _, ok := strings.Cut(message, ": developers may"); ok {
		message = reason
	}
	const most = 110
	if len(message) > most {
		message = message[:most] + "..."
	}
	return message
}

// waitUntilRefused waits until the admission plugin has loaded the new
// policy: a server-side dry run of args as user is refused by it.
func (k *kube) waitUntilRefused(t *testing.T, cp *controlplane.ControlPlane, user string, d *appsv1.Deployment, args []string) {
	t.Helper()
	started := time.Now()
	controlplane.WaitUntil(t, waitTimeout, user+"'s foreign image in "+d.Namespace+" is refused by the policy", func(ctx context.Context) (bool, error) {
		out, err := kubectlResult(cp.Kubeconfig(user), append(append([]string{"-n", d.Namespace}, args...), "--dry-run=server")...)
		return classify(out, err) == refusedByPolicy, nil
	})
	t.Logf("policy in %s enforced %s after pulumi up", d.Namespace, time.Since(started).Round(time.Millisecond))
}

// checkPoliciesTypeCheck asserts the API server type-checked every policy
// of the stack against the Deployment schema without a warning.
func (k *kube) checkPoliciesTypeCheck(t *testing.T, s *liveStack) {
	t.Helper()
	var names []string
	for _, o := range s.objects {
		if o.Kind == "ValidatingAdmissionPolicy" {
			names = append(names, o.Name)
		}
	}
	if len(names) != len(config.Services) {
		t.Fatalf("stack %s holds policies %v, want one per service", s.name, names)
	}
	for _, name := range names {
		k.checkTypeChecked(t, name)
	}
}

// checkTypeChecked waits until the API server type-checked the policy
// against the schema of what it matches, and fails on any warning.
func (k *kube) checkTypeChecked(t *testing.T, name string) {
	t.Helper()
	controlplane.WaitUntil(t, waitTimeout, "policy "+name+" is type-checked", func(ctx context.Context) (bool, error) {
		p, err := k.client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Status.ObservedGeneration != p.Generation || p.Status.TypeChecking == nil {
			return false, nil
		}
		if warnings := p.Status.TypeChecking.ExpressionWarnings; len(warnings) > 0 {
			t.Errorf("policy %s: type-checking warnings %+v", name, warnings)
		}
		return true, nil
	})
}

// removeImageRule deletes the image rule from the live policy of the
// namespace's service, as a broken program would declare it.
func (k *kube) removeImageRule(t *testing.T, namespace string) {
	t.Helper()
	policies, err := k.client.AdmissionregistrationV1().ValidatingAdmissionPolicies().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range policies.Items {
		if !strings.HasPrefix(p.Name, namespace+"-") {
			continue
		}
		i := slices.IndexFunc(p.Spec.Validations, func(v admissionregistrationv1.Validation) bool {
			return strings.HasPrefix(v.Message, stack.ImageRuleMarker)
		})
		if i < 0 {
			t.Fatalf("policy %s has no image rule", p.Name)
		}
		message, err := json.Marshal(p.Spec.Validations[i].Message)
		if err != nil {
			t.Fatal(err)
		}
		// The test op makes the removal fail if the rule moved meanwhile.
		patch := fmt.Appendf(nil, `[{"op":"test","path":"/spec/validations/%d/message","value":%s},{"op":"remove","path":"/spec/validations/%d"}]`, i, message, i)
		if _, err := k.client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Patch(t.Context(), p.Name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Logf("removed the image rule from policy %s", p.Name)
		return
	}
	t.Fatalf("no policy for namespace %s", namespace)
}
