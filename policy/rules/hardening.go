package rules

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
)

const hardeningDescription = "Every namespace enforces a Pod Security level (payments' restricted; Antaeus's restricted, " +
	"baseline only for the stock image that runs as root), and every workload passes its namespace's level, with no " +
	"privilege escalation, all capabilities dropped, a read-only root filesystem at the restricted level, and CPU and " +
	"memory requests and limits on every container."

// podSecurityEvaluator evaluates pod specs against the Pod Security
// Standards, with the checks the API server itself runs.
var podSecurityEvaluator = func() psapolicy.Evaluator {
	e, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		panic(err) // the library's own checks: cannot fail
	}
	return e
}()

// levelStrength orders the levels: a namespace may enforce more than its
// workloads need, never less.
var levelStrength = map[psaapi.Level]int{psaapi.LevelPrivileged: 0, psaapi.LevelBaseline: 1, psaapi.LevelRestricted: 2}

// hardening checks a Namespace's Pod Security labels, and a workload's
// pod template against its namespace's level.
func hardening(in Intent, r policyx.AnalyzerResource) []string {
	if r.Type == typeNamespace {
		return namespaceHardening(in, newObject(r))
	}
	if specPath, metaPath, ok := podPaths(r.Type); ok {
		return workloadHardening(in, newObject(r), specPath, metaPath)
	}
	return nil
}

func namespaceHardening(in Intent, o object) []string {
	var ns corev1.Namespace
	if err := o.decode(&ns); err != nil {
		return []string{err.Error()}
	}
	if unknown := o.unknownUnder("metadata.name", "metadata.labels"); len(unknown) > 0 {
		return []string{cannotVerify("the namespace's Pod Security labels", unknown)}
	}
	want := in.podSecurityLevel(ns.Name)
	got, set := ns.Labels[psaapi.EnforceLevelLabel]
	if !set {
		return []string{fmt.Sprintf("namespace %s enforces no Pod Security level: label it %s=%s", ns.Name, psaapi.EnforceLevelLabel, want)}
	}
	level, err := psaapi.ParseLevel(got)
	if err != nil {
		return []string{fmt.Sprintf("namespace %s: %s=%q is not a Pod Security level", ns.Name, psaapi.EnforceLevelLabel, got)}
	}
	if levelStrength[level] < levelStrength[want] {
		return []string{fmt.Sprintf("namespace %s enforces Pod Security level %s; it must enforce %s", ns.Name, level, want)}
	}
	return nil
}

// notHardening matches unknown values no hardening check reads:
// environment variables and images (the images rule's).
var notHardening = regexp.MustCompile(`\.(env\[\d+\]|envFrom\[\d+\]|image)(\.|\[|$)`)

func workloadHardening(in Intent, o object, specPath, metaPath string) []string {
	var holder struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := o.decode(&holder); err != nil {
		return []string{err.Error()}
	}
	var unknown []string
	for _, u := range o.unknownUnder(specPath, metaPath, "metadata.namespace") {
		if !notHardening.MatchString(u) {
			unknown = append(unknown, u)
		}
	}
	if len(unknown) > 0 {
		return []string{cannotVerify("the workload's pod settings", unknown)}
	}
	var meta metav1.ObjectMeta
	var spec corev1.PodSpec
	if err := decodeAt(o, metaPath, &meta); err != nil {
		return []string{err.Error()}
	}
	if err := decodeAt(o, specPath, &spec); err != nil {
		return []string{err.Error()}
	}
	level := in.podSecurityLevel(holder.Metadata.Namespace)
	var found []string
	for _, result := range podSecurityEvaluator.EvaluatePod(psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()}, &meta, &spec) {
		if !result.Allowed {
			found = append(found, fmt.Sprintf("fails Pod Security level %s of namespace %s: %s (%s)", level, holder.Metadata.Namespace, result.ForbiddenReason, result.ForbiddenDetail))
		}
	}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		found = append(found, containerHardening(c, level)...)
	}
	return found
}

// containerHardening is what the program gives every container beyond the
// Pod Security level's own checks.
func containerHardening(c corev1.Container, level psaapi.Level) []string {
	var found []string
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		found = append(found, fmt.Sprintf("container %s may escalate privileges: set allowPrivilegeEscalation: false", c.Name))
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		found = append(found, fmt.Sprintf("container %s keeps Linux capabilities: drop ALL", c.Name))
	}
	if level == psaapi.LevelRestricted && (sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem) {
		found = append(found, fmt.Sprintf("container %s may write its root filesystem: set readOnlyRootFilesystem: true (mount an emptyDir where it must write)", c.Name))
	}
	for _, r := range []struct {
		kind string
		list corev1.ResourceList
	}{{"requests", c.Resources.Requests}, {"limits", c.Resources.Limits}} {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := r.list[name]; !ok {
				found = append(found, fmt.Sprintf("container %s sets no %s %s", c.Name, name, r.kind))
			}
		}
	}
	return found
}
