package config

import "fmt"

// DefaultClusterDomain is the DNS domain of most clusters.
const DefaultClusterDomain = "cluster.local"

// Memory is sized from measurements: the peak working set of each service
// (memory in use less the file pages the kernel reclaims first, as kubelet
// counts it) over the reviewers' test on a real node, where the integration
// suite prints it ("memory of payments over the test"). The rule, in
// memoryFrom: request the peak plus half of it, rounded up to 16 MiB, so
// the scheduler places the pod where its usual use fits; limit twice the
// request, for a burst of charges, a garbage collection or a JVM growing its
// heap.
const (
	// PaymentsPeakMiB is the payments server's, measured by the suite
	// (8.3 to 10.4 MiB over four runs, rounded up).
	PaymentsPeakMiB = 11
	// PrebuiltAntaeusPeakMiB is the real Antaeus's on a JRE, measured
	// through the same test (86 to 90 MiB); the suite itself runs a
	// stand-in for Antaeus, whose use says nothing of the JVM's.
	PrebuiltAntaeusPeakMiB = 90
)

// memoryFrom is the memory request and limit for a peak working set.
func memoryFrom(peakMiB int) (request, limit ResourceList) {
	const granule = 16
	withHeadroom := (3*peakMiB + 1) / 2 // 1.5 times, rounded up
	requestMiB := (withHeadroom + granule - 1) / granule * granule
	return ResourceList{Memory: fmt.Sprintf("%dMi", requestMiB)}, ResourceList{Memory: fmt.Sprintf("%dMi", 2*requestMiB)}
}

// sized is the memory that memoryFrom gives peakMiB, with the CPU request
// and limit.
func sized(peakMiB int, cpuRequest, cpuLimit string) Resources {
	requests, limits := memoryFrom(peakMiB)
	requests.CPU, limits.CPU = cpuRequest, cpuLimit
	return Resources{Requests: requests, Limits: limits}
}

// DefaultPaymentsResources fit the payments server's measured peak.
var DefaultPaymentsResources = sized(PaymentsPeakMiB, "50m", "500m")

// DefaultAntaeusResources are per flavor. The stock image runs the Gradle
// daemon next to the application (about 1 GiB, not measured by the suite:
// it needs the internet at start); the prebuilt one only the application,
// sized from its measured peak.
var DefaultAntaeusResources = map[Flavor]Resources{
	FlavorStock: {
		Requests: ResourceList{CPU: "500m", Memory: "1Gi"},
		Limits:   ResourceList{CPU: "2", Memory: "1536Mi"},
	},
	FlavorPrebuilt: sized(PrebuiltAntaeusPeakMiB, "250m", "1"),
}

func (c *Config) applyDefaults(stack string) {
	if c.Environment == "" {
		c.Environment = stack
	}
	if c.Kubernetes.ClusterIdentifier == "" {
		c.Kubernetes.ClusterIdentifier = c.Environment
	}
	if c.Kubernetes.ClusterDomain == "" {
		c.Kubernetes.ClusterDomain = DefaultClusterDomain
	}
	if c.Payments.Replicas == nil {
		c.Payments.Replicas = ptr(1)
	}
	c.Payments.Resources = c.Payments.Resources.withDefaults(DefaultPaymentsResources)
	if c.Antaeus.Replicas == nil {
		c.Antaeus.Replicas = ptr(1)
	}
	c.Antaeus.Resources = c.Antaeus.Resources.withDefaults(DefaultAntaeusResources[c.Antaeus.Flavor])
}

// withDefaults fills each quantity left out from def, one by one.
func (r Resources) withDefaults(def Resources) Resources {
	return Resources{
		Requests: r.Requests.withDefaults(def.Requests),
		Limits:   r.Limits.withDefaults(def.Limits),
	}
}

func (l ResourceList) withDefaults(def ResourceList) ResourceList {
	if l.CPU == "" {
		l.CPU = def.CPU
	}
	if l.Memory == "" {
		l.Memory = def.Memory
	}
	return l
}

func ptr[T any](v T) *T { return &v }
