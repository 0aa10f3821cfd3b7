package stack_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/outputs"
)

func TestAntaeusCallsThePaymentsServiceOfItsOwnStack(t *testing.T) {
	for _, name := range committedStacks {
		t.Run(name, func(t *testing.T) {
			d := mustDeploy(t, name)
			m := manifestsOf(t, d)
			endpoint := envOf(m.deploymentOf(t, config.ServiceAntaeus).Spec.Template.Spec.Containers[0], "PAYMENT_PROVIDER_ENDPOINT")
			u, err := url.Parse(endpoint)
			if err != nil || u.Scheme != "http" || u.Path != "/v1/charges" {
				t.Fatalf("PAYMENT_PROVIDER_ENDPOINT %q, want http://<service>.<namespace>.svc.cluster.local:<port>/v1/charges", endpoint)
			}
			svc := m.serviceAt(t, u.Hostname())
			payments := m.deploymentOf(t, config.ServicePayments)
			if svc.Namespace != payments.Namespace || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(payments.Spec.Template.Labels)) {
				t.Errorf("the endpoint's Service %s/%s does not select the payments pods", svc.Namespace, svc.Name)
			}
			port := svc.Spec.Ports[0]
			if u.Port() != fmt.Sprint(port.Port) {
				t.Errorf("the endpoint's port %s is not the Service's port %d", u.Port(), port.Port)
			}
			if !hasPortNamed(containerPorts(payments), port.TargetPort.StrVal) {
				t.Errorf("the Service forwards to %q, not a named port of payments", port.TargetPort.String())
			}
			if d.outputs[outputs.PaymentsEndpoint] != endpoint {
				t.Errorf("paymentsEndpoint output %v, want what Antaeus uses, %q", d.outputs[outputs.PaymentsEndpoint], endpoint)
			}
		})
	}
}

func hasPortNamed(ports map[int32]string, name string) bool {
	for _, n := range ports {
		if n == name {
			return true
		}
	}
	return false
}

// serviceAt finds the Service a cluster DNS name points to.
func (m manifests) serviceAt(t *testing.T, host string) corev1.Service {
	t.Helper()
	for _, s := range m.services {
		if host == fmt.Sprintf("%s.%s.svc.%s", s.Name, s.Namespace, m.config.Kubernetes.ClusterDomain) {
			return s
		}
	}
	t.Fatalf("no Service of stack %s answers at %s", m.stack, host)
	return corev1.Service{}
}

func envOf(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func TestOutputsSayWhereEverythingIs(t *testing.T) {
	for _, name := range committedStacks {
		t.Run(name, func(t *testing.T) {
			d := mustDeploy(t, name)
			m := manifestsOf(t, d)
			want := map[string]string{
				outputs.AntaeusNamespace:  m.deploymentOf(t, config.ServiceAntaeus).Namespace,
				outputs.PaymentsNamespace: m.deploymentOf(t, config.ServicePayments).Namespace,
				outputs.AntaeusURL:        committedURL(t, m.config.Expose),
			}
			for key, value := range want {
				if d.outputs[key] != value {
					t.Errorf("output %s = %v, want %q", key, d.outputs[key], value)
				}
			}
			for _, key := range []string{outputs.PaymentsEndpoint, outputs.Deployers} {
				if d.outputs[key] == nil {
					t.Errorf("output %s is missing", key)
				}
			}
			if !strings.HasSuffix(fmt.Sprint(d.outputs[outputs.AntaeusNamespace]), "-"+name) {
				t.Errorf("namespace %v does not carry the stack name", d.outputs[outputs.AntaeusNamespace])
			}
		})
	}
}

// committedURL is where a committed stack says Antaeus is reached, before
// any controller has published an address.
func committedURL(t *testing.T, e config.Expose) string {
	t.Helper()
	switch {
	case e.Mode == config.ExposeGateway && e.Gateway.HTTPS:
		return "https://" + e.Gateway.Host
	case e.Mode == config.ExposeGateway:
		return "http://" + e.Gateway.Host
	case e.Mode == config.ExposeIngress && e.Ingress.TLS():
		return "https://" + e.Ingress.Host
	case e.Mode == config.ExposeIngress:
		return "http://" + e.Ingress.Host
	case e.Mode == config.ExposeLoadBalancer:
		return "" // no address until the cloud gives one
	case e.Mode == config.ExposeNodePort:
		return fmt.Sprintf("http://%s:%d", outputs.NodeAddress, e.NodePort)
	}
	t.Fatalf("no committed stack is exposed as %s", e.Mode)
	return ""
}
