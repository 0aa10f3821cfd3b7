package rules

import (
	psaapi "k8s.io/pod-security-admission/api"

	"github.com/tinjis/tinjis/infra/config"
)

// Intent is what the stack's configuration says must hold: read with the
// program's own loader (config.Load), so the pack and the program never
// disagree on what a key means.
type Intent struct {
	Config config.Config
}

// paymentsNamespace and antaeusNamespace are the service namespaces of the
// stack.
func (i Intent) paymentsNamespace() string {
	return i.Config.NamespaceOf(config.ServicePayments)
}

func (i Intent) antaeusNamespace() string {
	return i.Config.NamespaceOf(config.ServiceAntaeus)
}

// serviceOf is the service whose namespace ns is.
func (i Intent) serviceOf(ns string) (config.Service, bool) {
	for _, s := range config.Services {
		if i.Config.NamespaceOf(s) == ns {
			return s, true
		}
	}
	return "", false
}

// podSecurityLevel is the Pod Security level a namespace must enforce and
// its workloads must pass: restricted, except Antaeus's namespace when its
// image runs as root (the stock flavor), which gets baseline. Namespaces
// the stack's config does not describe get restricted too.
func (i Intent) podSecurityLevel(ns string) psaapi.Level {
	if ns == i.antaeusNamespace() && i.Config.Antaeus.Flavor.RunsAsRoot() {
		return psaapi.LevelBaseline
	}
	return psaapi.LevelRestricted
}
