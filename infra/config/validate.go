package config

import (
	// Registers sha256 with go-digest, which reference uses to check digests;
	// without it a binary that links no other sha256 user rejects valid ones.
	_ "crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Namespace names are built from the environment; the longest prefix must
// still leave a valid DNS label.
const longestNamespacePrefix = "payments-"

// The default NodePort range of kube-apiserver.
const minNodePort, maxNodePort = 30000, 32767

// problems collects one sentence per invalid value.
type problems []error

func (p *problems) addf(format string, args ...any) {
	*p = append(*p, fmt.Errorf(format, args...))
}

// validate reports every value the program could not deploy safely, one
// sentence per problem, each naming its key.
func (c Config) validate() error {
	var p problems
	p.environment(c.Environment)
	p.kubernetes(c.Kubernetes)
	p.payments(c.Payments, c.HighAvailability)
	p.antaeus(c.Antaeus)
	p.expose(c.Expose)
	p.developers(c.Developers)
	p.deployer(c.Deployer, c.Developers)
	p.clusterGuards(c.ClusterGuards, c.Environment)
	return errors.Join(p...)
}

func (p *problems) environment(env string) {
	if msgs := validation.IsDNS1123Label(longestNamespacePrefix + env); len(msgs) > 0 {
		p.addf("%s must be a lowercase DNS label of at most %d characters (it names the namespaces), not %q", KeyEnvironment, validation.DNS1123LabelMaxLength-len(longestNamespacePrefix), env)
	}
}

func (p *problems) kubernetes(k Kubernetes) {
	if !k.Rendering() && k.Kubeconfig == "" && k.Context == "" {
		p.addf("%s must set context or kubeconfig (or renderYamlToDirectory to only render manifests): the ambient kubeconfig context is never used silently", KeyKubernetes)
	}
	if msgs := validation.IsDNS1123Subdomain(k.ClusterDomain); len(msgs) > 0 {
		p.addf("%s.clusterDomain must be a DNS name such as cluster.local, not %q", KeyKubernetes, k.ClusterDomain)
	}
}

func (p *problems) payments(s Payments, highAvailability bool) {
	key := KeyPayments
	p.image(key+".image", s.Image)
	switch {
	case *s.Replicas < 1:
		p.addf("%s.replicas must be at least 1, not %d", key, *s.Replicas)
	case highAvailability && *s.Replicas < 2:
		p.addf("%s.replicas must be at least 2 when %s is true: the PodDisruptionBudget and the topology spread need a second replica", key, KeyHighAvailability)
	}
	p.resources(key+".resources", s.Resources)
	from := key + ".metrics.from"
	p.sources(from+".namespaceLabels", s.Metrics.From.NamespaceLabels, from+".cidrs", s.Metrics.From.CIDRs)
}

func (p *problems) antaeus(a Antaeus) {
	key := KeyAntaeus
	p.image(key+".image", a.Image)
	if !slices.Contains(Flavors, a.Flavor) {
		p.addf("%s.flavor must be one of %s (which image runs decides its security context and egress), not %q", key, join(Flavors), a.Flavor)
	}
	if *a.Replicas != 1 {
		p.addf("%s.replicas must be 1, not %d: every Antaeus replica has its own SQLite database", key, *a.Replicas)
	}
	p.resources(key+".resources", a.Resources)
}

func (p *problems) image(key, ref string) {
	if ref == "" {
		p.addf("%s is required: an image reference such as repo:tag or repo@sha256:<64 hex digits>", key)
		return
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		p.addf("%s must be an image reference such as repo:tag or repo@sha256:<64 hex digits>, not %q (%v)", key, ref, err)
		return
	}
	_, tagged := named.(reference.Tagged)
	_, digested := named.(reference.Digested)
	if !tagged && !digested {
		p.addf("%s must pin a tag (repo:tag) or a digest (repo@sha256:<64 hex digits>), not the bare repository %q", key, ref)
	}
}

func (p *problems) resources(key string, r Resources) {
	for _, q := range []struct{ name, request, limit string }{
		{"cpu", r.Requests.CPU, r.Limits.CPU},
		{"memory", r.Requests.Memory, r.Limits.Memory},
	} {
		request, requestErr := resource.ParseQuantity(q.request)
		if requestErr != nil {
			p.addf("%s.requests.%s must be a Kubernetes quantity such as 100m or 128Mi, not %q", key, q.name, q.request)
		}
		limit, limitErr := resource.ParseQuantity(q.limit)
		if limitErr != nil {
			p.addf("%s.limits.%s must be a Kubernetes quantity such as 500m or 256Mi, not %q", key, q.name, q.limit)
		}
		if requestErr == nil && limitErr == nil && request.Cmp(limit) > 0 {
			p.addf("%s.requests.%s (%s) must not exceed %s.limits.%s (%s)", key, q.name, q.request, key, q.name, q.limit)
		}
	}
}

func (p *problems) expose(e Expose) {
	key := KeyExpose
	if !slices.Contains(ExposeModes, e.Mode) {
		p.addf("%s.mode must be one of %s, not %q", key, join(ExposeModes), e.Mode)
	}
	modeSettings(p, e.Mode, ExposeGateway, "gateway", e.Gateway, "name, namespace, host and the data plane's namespace labels or CIDRs", p.gateway)
	modeSettings(p, e.Mode, ExposeIngress, "ingress", e.Ingress, "host and controllerNamespaceLabels", p.ingress)
	if e.NodePort != 0 {
		if e.Mode != ExposeNodePort {
			p.addf("%s.nodePort is only used when %s.mode is %s, not %s", key, key, ExposeNodePort, e.Mode)
		} else if e.NodePort < minNodePort || e.NodePort > maxNodePort {
			p.addf("%s.nodePort must be from %d to %d, not %d", key, minNodePort, maxNodePort, e.NodePort)
		}
	}
}

func (p *problems) ingress(key string, i Ingress) {
	if msgs := validation.IsDNS1123Subdomain(i.Host); len(msgs) > 0 {
		p.addf("%s.host must be a DNS name such as antaeus.example.com, not %q", key, i.Host)
	}
	for field, name := range map[string]string{"className": i.ClassName, "tlsSecretName": i.TLSSecretName, "certManagerClusterIssuer": i.CertManagerClusterIssuer} {
		if name == "" {
			continue
		}
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			p.addf("%s.%s must be a Kubernetes object name, not %q", key, field, name)
		}
	}
	if i.CertManagerClusterIssuer != "" && i.TLSSecretName == "" {
		p.addf("%s.tlsSecretName is required with %s.certManagerClusterIssuer: cert-manager writes the certificate into that Secret", key, key)
	}
	if len(i.ControllerNamespaceLabels) == 0 {
		p.addf("%s.controllerNamespaceLabels is required: it selects the ingress controller's namespace, the only one allowed to reach Antaeus (e.g. kubernetes.io/metadata.name: ingress-nginx)", key)
	}
	p.labels(key+".controllerNamespaceLabels", i.ControllerNamespaceLabels)
}

// modeSettings checks the settings of one exposure mode: required with
// that mode, refused with any other.
func modeSettings[T any](p *problems, mode, owner ExposeMode, field string, settings *T, needs string, check func(key string, settings T)) {
	key := KeyExpose + "." + field
	switch {
	case mode == owner && settings == nil:
		p.addf("%s is required when %s.mode is %s: it needs at least %s", key, KeyExpose, owner, needs)
	case mode == owner:
		check(key, *settings)
	case settings != nil:
		p.addf("%s is only used when %s.mode is %s, not %s: remove it or change the mode", key, KeyExpose, owner, mode)
	}
}

func (p *problems) gateway(key string, g Gateway) {
	if msgs := validation.IsDNS1123Subdomain(g.Name); len(msgs) > 0 {
		p.addf("%s.name must name the Gateway the route attaches to (a Kubernetes object name), not %q", key, g.Name)
	}
	if msgs := validation.IsDNS1123Label(g.Namespace); len(msgs) > 0 {
		p.addf("%s.namespace must be the Gateway's namespace (a DNS label), not %q", key, g.Namespace)
	}
	if g.SectionName != "" && len(validation.IsDNS1123Subdomain(g.SectionName)) > 0 {
		p.addf("%s.sectionName must name one of the Gateway's listeners (a DNS name), not %q", key, g.SectionName)
	}
	if msgs := validation.IsDNS1123Subdomain(g.Host); len(msgs) > 0 {
		p.addf("%s.host must be a DNS name such as antaeus.example.com, not %q", key, g.Host)
	}
	if len(g.DataPlaneNamespaceLabels) == 0 && len(g.DataPlaneCIDRs) == 0 {
		p.addf("%s.dataPlaneNamespaceLabels or %s.dataPlaneCIDRs is required: they select the gateway's proxies, the only sources allowed to reach Antaeus", key, key)
	}
	p.sources(key+".dataPlaneNamespaceLabels", g.DataPlaneNamespaceLabels, key+".dataPlaneCIDRs", g.DataPlaneCIDRs)
}

// sources checks the namespace labels and the networks that select who
// may connect, each under its own key.
func (p *problems) sources(labelsKey string, labels map[string]string, cidrsKey string, cidrs []string) {
	p.labels(labelsKey, labels)
	for i, cidr := range cidrs {
		prefix, err := netip.ParsePrefix(cidr)
		if err != nil || prefix != prefix.Masked() {
			p.addf("%s[%d] must be a network in CIDR notation such as 172.18.0.0/16, not %q", cidrsKey, i, cidr)
		}
	}
}

func (p *problems) labels(key string, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		v := labels[k]
		if len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
			p.addf("%s must hold Kubernetes labels, not %q: %q", key, k, v)
		}
	}
}

func (p *problems) developers(devs []Developer) {
	key := KeyDevelopers
	seen := map[string]bool{}
	for i, d := range devs {
		at := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case d.Name == "":
			p.addf("%s.name is required: the user name the cluster authenticates (an OIDC email, a certificate CN)", at)
		case seen[d.Name]:
			p.addf("%s.name %q is listed twice: give each developer one entry with all their services", at, d.Name)
		}
		seen[d.Name] = true
		if len(d.Services) == 0 {
			p.addf("%s.services must list at least one of %s", at, join(Services))
		}
		for j, s := range d.Services {
			switch {
			case !slices.Contains(Services, s):
				p.addf("%s.services[%d] must be one of %s, not %q", at, j, join(Services), s)
			case slices.Index(d.Services, s) < j:
				p.addf("%s.services[%d] lists %s twice", at, j, s)
			}
		}
	}
}

func join[T ~string](values []T) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
