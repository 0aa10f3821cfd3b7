// Package config is the typed, validated configuration of one tinjis stack.
//
// Every value comes from the stack's Pulumi.<stack>.yaml under the tinjis:
// namespace. Load reads it once, fills in defaults and refuses anything the
// program could not deploy safely, with one sentence per problem naming the
// key.
package config

import (
	"slices"

	"github.com/tinjis/tinjis/payments/settings"
)

// Namespace is the Pulumi config namespace of every key this package reads.
const Namespace = "tinjis"

// Config is everything one stack deploys.
type Config struct {
	// Environment names the stack's namespaces (payments-<env>, antaeus-<env>);
	// it defaults to the stack name.
	Environment string
	// HighAvailability requires spare payments replicas, kept up by a
	// PodDisruptionBudget and spread across nodes.
	HighAvailability bool
	Kubernetes       Kubernetes
	Payments         Payments
	Antaeus          Antaeus
	Expose           Expose
	Developers       []Developer
	// Deployer is who runs pulumi up; ClusterGuards, when set, are the
	// cluster-wide admission policies the stack declares (see cluster.go).
	Deployer      *Deployer
	ClusterGuards *ClusterGuards

	// DeveloperDigestsOnly makes developers roll out images by digest
	// only; by default a tag of the configured repository is accepted too.
	DeveloperDigestsOnly bool
}

// Kubernetes says which cluster the stack deploys to, or that it only
// renders manifests.
type Kubernetes struct {
	// Kubeconfig is a path to a kubeconfig file or the kubeconfig itself.
	Kubeconfig string `json:"kubeconfig"`
	// Context is the kubeconfig context to use.
	Context string `json:"context"`
	// RenderYamlToDirectory, when set, writes every manifest to this
	// directory instead of applying it; no cluster is contacted.
	RenderYamlToDirectory string `json:"renderYamlToDirectory"`
	// ClusterIdentifier names the cluster for Pulumi: the stack's objects
	// are replaced only when it changes, never because the kubeconfig's
	// path or context name did. It defaults to the environment.
	ClusterIdentifier string `json:"clusterIdentifier"`
	// ClusterDomain is the cluster's DNS domain, cluster.local by default.
	ClusterDomain string `json:"clusterDomain"`
}

// Rendering reports whether the stack writes manifests instead of applying them.
func (k Kubernetes) Rendering() bool { return k.RenderYamlToDirectory != "" }

// Resources are a container's requests and limits, as Kubernetes quantities.
type Resources struct {
	Requests ResourceList `json:"requests"`
	Limits   ResourceList `json:"limits"`
}

// ResourceList holds the CPU and memory quantities of requests or limits.
type ResourceList struct {
	CPU    string `json:"cpu"`
	Memory string `json:"memory"`
}

// Payments configures the payment provider.
type Payments struct {
	Image string `json:"image"`
	// Replicas defaults to 1.
	Replicas  *int      `json:"replicas"`
	Resources Resources `json:"resources"`
	// SuccessRate is the share of charges that succeed, from 0 to 1.
	SuccessRate *float64 `json:"successRate"`
	LogLevel    string   `json:"logLevel"`
	// Drain is how long a terminating pod keeps serving after it reports
	// not ready, so endpoints can stop sending it traffic.
	Drain string `json:"drain"`
	// Seed fixes the random source, for reproducible demos.
	Seed *int64 `json:"seed"`
	// AuthToken, when set, must be a Pulumi secret
	// (pulumi config set --secret --path payments.authToken ...).
	AuthToken string `json:"authToken"`
	// Metrics says who may scrape the metrics port.
	Metrics PaymentsMetrics `json:"metrics"`

	// Server is what the fields above tell the payment provider, over its
	// defaults, read and checked by the server's own rules (Load fills it).
	Server settings.Config `json:"-"`
}

// PaymentsMetrics configures who reaches payments' metrics port, which
// serves /metrics apart from the charge port.
type PaymentsMetrics struct {
	// From are the only sources admitted to the metrics port (the
	// monitoring system's scrapers); when it selects nothing, nobody is.
	From Networks `json:"from"`
}

// Networks select sources of traffic for a NetworkPolicy: any pod of the
// namespaces whose labels include NamespaceLabels, and the addresses in
// CIDRs (for sources outside the cluster that keep their address).
type Networks struct {
	NamespaceLabels map[string]string `json:"namespaceLabels"`
	CIDRs           []string          `json:"cidrs"`
}

// Empty reports whether n selects no source at all.
func (n Networks) Empty() bool { return len(n.NamespaceLabels) == 0 && len(n.CIDRs) == 0 }

// Flavor tells which kind of Antaeus image the stack runs.
type Flavor string

const (
	// FlavorStock is the upstream image: it runs as root and downloads
	// Gradle and every dependency from the internet when it starts.
	FlavorStock Flavor = "stock"
	// FlavorPrebuilt is an image with Antaeus built in ahead (the
	// operator's, or the stand-in from `make images`): non-root, nothing
	// downloaded at start.
	FlavorPrebuilt Flavor = "prebuilt"
)

// Flavors lists the accepted flavors, in the order error messages name them.
var Flavors = []Flavor{FlavorStock, FlavorPrebuilt}

// NeedsInternet reports whether the image downloads at start.
func (f Flavor) NeedsInternet() bool { return f == FlavorStock }

// RunsAsRoot reports whether the image needs root.
func (f Flavor) RunsAsRoot() bool { return f == FlavorStock }

// Antaeus configures the billing service.
type Antaeus struct {
	Image  string `json:"image"`
	Flavor Flavor `json:"flavor"`
	// Replicas may only be 1: every replica has its own SQLite database.
	Replicas  *int      `json:"replicas"`
	Resources Resources `json:"resources"`
}

// ExposeMode is how Antaeus is reached from outside the cluster.
type ExposeMode string

const (
	// ExposeGateway attaches an HTTPRoute to a Gateway (Gateway API).
	ExposeGateway ExposeMode = "gateway"
	// ExposeIngress declares an Ingress, for clusters that still run an
	// Ingress controller (ingress-nginx reached its end of maintenance on
	// 2026-03-24).
	ExposeIngress      ExposeMode = "ingress"
	ExposeLoadBalancer ExposeMode = "loadBalancer"
	ExposeNodePort     ExposeMode = "nodePort"
)

// ExposeModes lists the accepted modes, in the order error messages name them.
var ExposeModes = []ExposeMode{ExposeGateway, ExposeIngress, ExposeLoadBalancer, ExposeNodePort}

// Expose configures how Antaeus is reached from outside the cluster.
type Expose struct {
	Mode ExposeMode `json:"mode"`
	// Gateway is required with mode gateway and refused otherwise.
	Gateway *Gateway `json:"gateway"`
	// Ingress is required with mode ingress and refused otherwise.
	Ingress *Ingress `json:"ingress"`
	// NodePort optionally fixes the port with mode nodePort.
	NodePort int `json:"nodePort"`
	// SkipAwait stops Pulumi waiting for the address a controller would
	// publish (on the Ingress, or the LoadBalancer Service), for clusters
	// where none does.
	SkipAwait bool `json:"skipAwait"`
}

// Gateway configures the HTTPRoute that attaches Antaeus to a Gateway
// someone else runs.
type Gateway struct {
	// Name and Namespace name the Gateway; SectionName optionally names
	// one of its listeners.
	Name        string `json:"name"`
	Namespace   string `json:"namespace"`
	SectionName string `json:"sectionName"`
	// Host is the hostname the route answers for.
	Host string `json:"host"`
	// HTTPS says the listener terminates TLS, so antaeusUrl is https.
	HTTPS bool `json:"https"`
	// DataPlaneNamespaceLabels select the namespaces of the gateway's
	// proxies, and DataPlaneCIDRs the addresses they connect from (for
	// proxies outside the cluster that keep the client address): the only
	// sources allowed to reach Antaeus. At least one is required.
	DataPlaneNamespaceLabels map[string]string `json:"dataPlaneNamespaceLabels"`
	DataPlaneCIDRs           []string          `json:"dataPlaneCIDRs"`
}

// Ingress configures the Ingress in front of Antaeus.
type Ingress struct {
	ClassName string `json:"className"`
	Host      string `json:"host"`
	// TLSSecretName is the Secret holding the certificate; it turns TLS on.
	TLSSecretName string `json:"tlsSecretName"`
	// CertManagerClusterIssuer asks cert-manager to issue the certificate
	// into TLSSecretName.
	CertManagerClusterIssuer string `json:"certManagerClusterIssuer"`
	// ControllerNamespaceLabels select the namespace of the ingress
	// controller, the only one allowed to reach Antaeus.
	ControllerNamespaceLabels map[string]string `json:"controllerNamespaceLabels"`
}

// TLS reports whether the Ingress serves HTTPS.
func (i Ingress) TLS() bool { return i.TLSSecretName != "" }

// Service names a deployable service, as developers list them.
type Service string

const (
	ServicePayments Service = "payments"
	ServiceAntaeus  Service = "antaeus"
)

// Services lists the deployable services.
var Services = []Service{ServicePayments, ServiceAntaeus}

// Developer may roll out new images of the listed services with their own
// credentials.
type Developer struct {
	// Name is the user name the cluster authenticates: an OIDC email, a
	// client certificate's CN.
	Name     string    `json:"name"`
	Services []Service `json:"services"`
}

// Deploys reports whether the developer may deploy the service.
func (d Developer) Deploys(s Service) bool {
	return slices.Contains(d.Services, s)
}

// NamespaceOf is the namespace the service runs in, in this environment
// (payments-dev).
func (c Config) NamespaceOf(s Service) string {
	return string(s) + "-" + c.Environment
}

// DevelopersOf returns the names of the developers who may deploy the
// service, in config order.
func (c Config) DevelopersOf(s Service) []string {
	var names []string
	for _, d := range c.Developers {
		if d.Deploys(s) {
			names = append(names, d.Name)
		}
	}
	return names
}
