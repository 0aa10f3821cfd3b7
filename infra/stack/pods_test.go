package stack_test

import (
	"fmt"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/tinjis/tinjis/infra/config"
)

func TestEveryPodIsAdmittedUnderItsNamespacesPodSecurityLevel(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range committedManifests(t) {
		for _, d := range m.deployments {
			t.Run(m.stack+"/"+d.Namespace+"/"+d.Name, func(t *testing.T) {
				ns, ok := m.namespace(d.Namespace)
				if !ok {
					t.Fatalf("namespace %q is not declared by the stack", d.Namespace)
				}
				level, err := psapi.ParseLevel(ns.Labels[psapi.EnforceLevelLabel])
				if err != nil {
					t.Fatalf("namespace %s: %v", ns.Name, err)
				}
				version, err := psapi.ParseVersion(ns.Labels[psapi.EnforceVersionLabel])
				if err != nil {
					t.Fatalf("namespace %s: %v", ns.Name, err)
				}
				result := policy.AggregateCheckResults(evaluator.EvaluatePod(
					psapi.LevelVersion{Level: level, Version: version},
					&d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec))
				if !result.Allowed {
					t.Errorf("pods of %s are refused by Pod Security level %s: %s: %s", d.Name, level, result.ForbiddenReason(), result.ForbiddenDetail())
				}
			})
		}
	}
}

func TestNamespacesEnforceTheStrictestLevelTheirImagesAllow(t *testing.T) {
	for _, m := range committedManifests(t) {
		want := map[config.Service]string{
			config.ServicePayments: "restricted",
			config.ServiceAntaeus:  "restricted",
		}
		if m.config.Antaeus.Flavor == config.FlavorStock {
			want[config.ServiceAntaeus] = "baseline" // the stock image runs as root
		}
		for service, level := range want {
			d := m.deploymentOf(t, service)
			ns, _ := m.namespace(d.Namespace)
			if got := ns.Labels[psapi.EnforceLevelLabel]; got != level {
				t.Errorf("stack %s: namespace %s of %s enforces %q, want %q", m.stack, ns.Name, service, got, level)
			}
			if got := ns.Labels[psapi.WarnLevelLabel]; got != "restricted" {
				t.Errorf("stack %s: namespace %s warns at %q, want restricted", m.stack, ns.Name, got)
			}
		}
	}
}

func TestEveryContainerHasProbesResourcesAndALockedDownSecurityContext(t *testing.T) {
	for _, m := range committedManifests(t) {
		for _, d := range m.deployments {
			for _, c := range d.Spec.Template.Spec.Containers {
				t.Run(fmt.Sprintf("%s/%s/%s", m.stack, d.Name, c.Name), func(t *testing.T) {
					checkProbes(t, c)
					checkResources(t, c)
					checkSecurityContext(t, d.Spec.Template.Spec, c)
					if c.Image != imageOf(m.config, d.Name) {
						t.Errorf("image %q, want %q from the stack config", c.Image, imageOf(m.config, d.Name))
					}
				})
			}
		}
	}
}

func imageOf(c config.Config, deployment string) string {
	if deployment == string(config.ServiceAntaeus) {
		return c.Antaeus.Image
	}
	return c.Payments.Image
}

func checkProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	named := map[string]bool{}
	for _, p := range c.Ports {
		named[p.Name] = true
	}
	for kind, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil {
			t.Errorf("no %s probe", kind)
			continue
		}
		port := probePort(p)
		if port.IntVal == 0 && !named[port.StrVal] {
			t.Errorf("%s probe targets %q, not a port of the container", kind, port.String())
		}
	}
}

func probePort(p *corev1.Probe) intstr.IntOrString {
	switch {
	case p.HTTPGet != nil:
		return p.HTTPGet.Port
	case p.TCPSocket != nil:
		return p.TCPSocket.Port
	}
	return intstr.IntOrString{}
}

func checkResources(t *testing.T, c corev1.Container) {
	t.Helper()
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		request, hasRequest := c.Resources.Requests[name]
		limit, hasLimit := c.Resources.Limits[name]
		if !hasRequest || !hasLimit {
			t.Errorf("%s: request %v, limit %v: want both", name, hasRequest, hasLimit)
			continue
		}
		if request.Cmp(limit) > 0 {
			t.Errorf("%s: request %s above limit %s", name, request.String(), limit.String())
		}
	}
}

func checkSecurityContext(t *testing.T, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("no securityContext")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities %+v, want drop ALL and nothing added", sc.Capabilities)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && pod.SecurityContext != nil {
		seccomp = pod.SecurityContext.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccomp profile %+v, want RuntimeDefault", seccomp)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted")
	}
}

func TestPaymentsRunsNonRootOnAReadOnlyFilesystem(t *testing.T) {
	for _, m := range committedManifests(t) {
		d := m.deploymentOf(t, config.ServicePayments)
		pod := d.Spec.Template.Spec
		c := pod.Containers[0]
		if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
			t.Errorf("stack %s: payments pods may run as root", m.stack)
		}
		if c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
			t.Errorf("stack %s: payments has a writable root filesystem", m.stack)
		}
		if s := d.Spec.Strategy; s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil || s.RollingUpdate.MaxUnavailable.IntValue() != 0 {
			t.Errorf("stack %s: payments strategy %+v, want a rolling update with no unavailable pod", m.stack, s)
		}
		drain := m.config.Payments.Server.Drain.Seconds()
		if grace := pod.TerminationGracePeriodSeconds; grace == nil || float64(*grace) <= drain {
			t.Errorf("stack %s: termination grace period %v does not outlast the %vs drain", m.stack, grace, drain)
		}
		if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("stack %s: probes readiness %s, liveness %s, want /readyz and /healthz", m.stack, c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
		}
		if got, want := *d.Spec.Replicas, int32(*m.config.Payments.Replicas); got != want {
			t.Errorf("stack %s: %d payments replicas, want %d", m.stack, got, want)
		}
	}
}

func TestAntaeusRunsOneReplicaRecreatedAndIsNeverKilledWhileSlow(t *testing.T) {
	for _, m := range committedManifests(t) {
		t.Run(m.stack, func(t *testing.T) {
			d := m.deploymentOf(t, config.ServiceAntaeus)
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
				t.Errorf("replicas %v, want exactly 1: each replica has its own database", d.Spec.Replicas)
			}
			if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("strategy %q, want Recreate", d.Spec.Strategy.Type)
			}
			c := d.Spec.Template.Spec.Containers[0]
			startup := c.StartupProbe
			if startup == nil || startup.HTTPGet == nil || startup.HTTPGet.Path != "/rest/health" {
				t.Fatalf("startup probe %+v, want GET /rest/health", startup)
			}
			minStartup := int32(120)
			if m.config.Antaeus.Flavor == config.FlavorStock {
				minStartup = 600 // Gradle and every dependency are downloaded first
			}
			if budget := startup.PeriodSeconds * startup.FailureThreshold; budget < minStartup {
				t.Errorf("startup probe gives up after %ds, want at least %ds", budget, minStartup)
			}
			if l := c.LivenessProbe; l.PeriodSeconds*l.FailureThreshold < 120 {
				t.Errorf("liveness kills after %ds without an answer, want at least 120s", l.PeriodSeconds*l.FailureThreshold)
			}
			if !mountsEmptyDir(d.Spec.Template.Spec, c, "/tmp") {
				t.Error("/tmp (where SQLite keeps data.db) is not a writable emptyDir")
			}
			// Room to grow beyond what the JVM was seen to use: twice the
			// prebuilt application's measured peak, or the stock image's
			// Gradle daemon and application (about 1 GiB).
			need := resource.MustParse("1Gi")
			if m.config.Antaeus.Flavor == config.FlavorPrebuilt {
				need = *resource.NewQuantity(2*config.PrebuiltAntaeusPeakMiB<<20, resource.BinarySI)
			}
			if limit := c.Resources.Limits[corev1.ResourceMemory]; limit.Cmp(need) < 0 {
				t.Errorf("memory limit %s is below %s, too small for the JVM", limit.String(), need.String())
			}
		})
	}
}

func mountsEmptyDir(pod corev1.PodSpec, c corev1.Container, path string) bool {
	for _, mount := range c.VolumeMounts {
		if mount.MountPath != path || mount.ReadOnly {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == mount.Name && v.EmptyDir != nil {
				return true
			}
		}
	}
	return false
}

func TestStacksWithHighAvailabilityKeepPaymentsUpThroughANodeDrain(t *testing.T) {
	for _, m := range committedManifests(t) {
		d := m.deploymentOf(t, config.ServicePayments)
		if m.stack == "staging" && !m.config.HighAvailability {
			t.Errorf("the committed staging stack does not set %s", config.KeyHighAvailability)
		}
		if !m.config.HighAvailability {
			continue
		}
		if *d.Spec.Replicas < 2 {
			t.Errorf("stack %s: %d payments replicas, want at least 2", m.stack, *d.Spec.Replicas)
		}
		if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
			t.Errorf("stack %s: payments pods are not spread over nodes", m.stack)
		}
		var budgets int
		for _, pdb := range m.disruptionBudgs {
			if pdb.Namespace == d.Namespace && len(m.deploymentsSelectedBy(t, pdb.Namespace, *pdb.Spec.Selector)) == 1 {
				budgets++
			}
		}
		if budgets != 1 {
			t.Errorf("stack %s: %d PodDisruptionBudgets select the payments pods, want 1", m.stack, budgets)
		}
	}
}
