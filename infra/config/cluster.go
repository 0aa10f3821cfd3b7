package config

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Keys of the settings about the cluster around the stack.
const (
	KeyDeployer      = Namespace + ":deployer"
	KeyClusterGuards = Namespace + ":clusterGuards"
)

// Deployer is who runs `pulumi up` (and previews, whose server-side dry
// runs the cluster checks the same way) against the stack's cluster, as
// the cluster authenticates it. Besides the cluster's own controllers, it
// is the only requester the developer admission policy lets change a
// Deployment beyond its images: every other requester, listed developer or
// not, is held to the image-only rule.
type Deployer struct {
	// Users are user names: a CI ServiceAccount
	// (system:serviceaccount:<namespace>:<name>), a certificate's CN, the
	// name a cloud maps a CI role to.
	Users []string `json:"users"`
	// Groups suit identities whose user name changes per session (a cloud
	// role assumed by CI): every member of a group is a deployer, so a
	// group must hold no developer.
	Groups []string `json:"groups"`
}

// groupsOfEveryone hold every user, or every ServiceAccount: exempting one
// would exempt the developers too.
var groupsOfEveryone = []string{"system:authenticated", "system:unauthenticated", "system:serviceaccounts"}

// ClusterGuards are cluster-wide admission policies against what no
// namespace-level object of the stack controls: pods on the node's network
// or host namespaces, which NetworkPolicy does not govern, and Services
// whose externalIPs capture another Service's traffic (CVE-2020-8554).
// They apply to every namespace, so the cluster's owner opts in.
type ClusterGuards struct {
	// HostNamespaces may still run pods with host network, PID or IPC, or
	// host ports: the cluster's system namespaces whose agents need them
	// (kube-proxy, the CNI, node exporters). None by default.
	HostNamespaces []string `json:"hostNamespaces"`
}

func (p *problems) deployer(d *Deployer, developers []Developer) {
	key := KeyDeployer
	if d == nil || len(d.Users)+len(d.Groups) == 0 {
		p.addf("%s is required: list the users or groups that run pulumi up against the cluster (e.g. users: [system:serviceaccount:ci:pulumi]), the only requesters besides the cluster's controllers that may change the Deployments beyond their images", key)
		return
	}
	for i, user := range d.Users {
		at := fmt.Sprintf("%s.users[%d]", key, i)
		switch {
		case user == "":
			p.addf("%s must be a user name as the cluster authenticates it, not empty", at)
		case slices.ContainsFunc(developers, func(dev Developer) bool { return dev.Name == user }):
			p.addf("%s %q is also a developer in %s: a deployer may change anything, so the developer rules would not hold for them", at, user, KeyDevelopers)
		}
	}
	for i, group := range d.Groups {
		at := fmt.Sprintf("%s.groups[%d]", key, i)
		switch {
		case group == "":
			p.addf("%s must be a group name as the cluster authenticates it, not empty", at)
		case slices.Contains(groupsOfEveryone, group):
			p.addf("%s %q holds every user or every ServiceAccount, developers included: name the deployer's own group", at, group)
		}
	}
}

func (p *problems) clusterGuards(g *ClusterGuards, env string) {
	if g == nil {
		return
	}
	key := KeyClusterGuards + ".hostNamespaces"
	var own []string
	for _, s := range Services {
		own = append(own, s.Namespace(env))
	}
	for i, ns := range g.HostNamespaces {
		at := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case len(validation.IsDNS1123Label(ns)) > 0:
			p.addf("%s must be a namespace name (a DNS label), not %q", at, ns)
		case slices.Contains(own, ns):
			p.addf("%s is %q, a namespace of this stack: host access there would bypass its NetworkPolicies", at, ns)
		case slices.Index(g.HostNamespaces, ns) < i:
			p.addf("%s lists %q twice", at, ns)
		}
	}
}

// Namespace is the namespace the service runs in, in the environment.
func (s Service) Namespace(env string) string { return string(s) + "-" + env }
