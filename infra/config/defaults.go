package config

// DefaultClusterDomain is the DNS domain of most clusters.
const DefaultClusterDomain = "cluster.local"

// DefaultPaymentsResources fit a small Go HTTP server.
var DefaultPaymentsResources = Resources{
	Requests: ResourceList{CPU: "50m", Memory: "32Mi"},
	Limits:   ResourceList{CPU: "500m", Memory: "128Mi"},
}

// DefaultAntaeusResources are sized for the JVM of each flavor: the stock
// image runs the Gradle daemon next to the application (about 1 GiB), the
// prebuilt one only the application.
var DefaultAntaeusResources = map[Flavor]Resources{
	FlavorStock: {
		Requests: ResourceList{CPU: "500m", Memory: "1Gi"},
		Limits:   ResourceList{CPU: "2", Memory: "1536Mi"},
	},
	FlavorPrebuilt: {
		Requests: ResourceList{CPU: "250m", Memory: "384Mi"},
		Limits:   ResourceList{CPU: "1", Memory: "512Mi"},
	},
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
