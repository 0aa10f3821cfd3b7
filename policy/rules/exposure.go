package rules

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

const exposureDescription = "payments is reached only from inside the cluster: no LoadBalancer or NodePort Service, " +
	"Ingress or HTTPRoute leads to payments' namespace (Antaeus is the only caller; the isolation rule checks who may call)."

// exposure reports every way r opens payments' namespace to the outside:
// a Service of type LoadBalancer or NodePort, or an Ingress in it (an
// Ingress routes only to Services of its own namespace), or an HTTPRoute
// in it or with a backend in it.
func exposure(in Intent, r policyx.AnalyzerResource) []string {
	payments := in.paymentsNamespace()
	switch r.Type {
	case typeService:
		return serviceExposure(newObject(r), payments)
	case typeIngress:
		return namespacedExposure(newObject(r), payments, "an Ingress")
	case typeHTTPRoute:
		return routeExposure(newObject(r), payments)
	}
	return nil
}

func serviceExposure(o object, payments string) []string {
	var svc corev1.Service
	if err := o.decode(&svc); err != nil {
		return []string{err.Error()}
	}
	if unknown := o.unknownUnder("metadata.namespace"); len(unknown) > 0 {
		if unknownType := o.unknownUnder("spec.type"); len(unknownType) > 0 || outside(svc.Spec.Type) {
			return []string{cannotVerify("whether this Service exposes payments' namespace "+payments, append(unknown, unknownType...))}
		}
		return nil
	}
	if svc.Namespace != payments {
		return nil
	}
	if unknown := o.unknownUnder("spec.type"); len(unknown) > 0 {
		return []string{cannotVerify("the type of a Service in payments' namespace "+payments, unknown)}
	}
	if outside(svc.Spec.Type) {
		return []string{fmt.Sprintf("Service %s/%s is of type %s: it opens payments to the outside of the cluster; payments' Services must be ClusterIP", svc.Namespace, svc.Name, svc.Spec.Type)}
	}
	return nil
}

// outside reports whether a Service of this type is reachable from outside
// the cluster.
func outside(t corev1.ServiceType) bool {
	return t == corev1.ServiceTypeLoadBalancer || t == corev1.ServiceTypeNodePort
}

func namespacedExposure(o object, payments, what string) []string {
	var m struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := o.decode(&m); err != nil {
		return []string{err.Error()}
	}
	if unknown := o.unknownUnder("metadata.namespace"); len(unknown) > 0 {
		return []string{cannotVerify("whether "+what+" routes to payments' namespace "+payments, unknown)}
	}
	if m.Metadata.Namespace == payments {
		return []string{fmt.Sprintf("%s %s in payments' namespace %s routes outside traffic to payments", what, m.Metadata.Name, payments)}
	}
	return nil
}

func routeExposure(o object, payments string) []string {
	if found := namespacedExposure(o, payments, "an HTTPRoute"); len(found) > 0 {
		return found
	}
	var route gatewayv1.HTTPRoute
	if err := o.decode(&route); err != nil {
		return []string{err.Error()}
	}
	if unknown := o.unknownUnder("spec.rules"); len(unknown) > 0 {
		return []string{cannotVerify("whether the HTTPRoute's backends are in payments' namespace "+payments, unknown)}
	}
	for _, rule := range route.Spec.Rules {
		for _, ref := range rule.BackendRefs {
			if ref.Namespace != nil && string(*ref.Namespace) == payments {
				return []string{fmt.Sprintf("HTTPRoute %s/%s sends outside traffic to %s in payments' namespace %s", route.Namespace, route.Name, ref.Name, payments)}
			}
		}
	}
	return nil
}
