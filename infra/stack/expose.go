package stack

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/outputs"
)

// Annotations read by tools outside the cluster's core.
const (
	// skipAwaitAnnotation stops Pulumi waiting for the Ingress or the
	// LoadBalancer Service to get an address, which never happens without
	// a controller that publishes one.
	skipAwaitAnnotation = "pulumi.com/skipAwait"
	// clusterIssuerAnnotation asks cert-manager for a certificate.
	clusterIssuerAnnotation = "cert-manager.io/cluster-issuer"
)

// serviceTypes maps each way of exposing Antaeus to its Service's type.
var serviceTypes = map[config.ExposeMode]string{
	config.ExposeGateway:      "ClusterIP",
	config.ExposeIngress:      "ClusterIP",
	config.ExposeLoadBalancer: "LoadBalancer",
	config.ExposeNodePort:     "NodePort",
}

// exposure is what expose declares to let users reach a workload.
type exposure struct {
	Service *corev1.Service
	// Ingress is nil unless the mode is ingress.
	Ingress *networkingv1.Ingress
	// HTTPRoute is nil unless the mode is gateway.
	HTTPRoute *apiextensions.CustomResource
	// URL is where users reach the workload.
	URL pulumi.StringOutput
}

// expose declares the workload's Service, of the type the mode needs, and
// whatever else the mode puts in front of it.
func expose(ctx *pulumi.Context, w workload, ns pulumi.StringInput, e config.Expose, opts ...pulumi.ResourceOption) (exposure, error) {
	svc, err := newService(ctx, w, ns, serviceReach{
		serviceType: serviceTypes[e.Mode],
		nodePort:    e.NodePort,
		// Only a LoadBalancer Service waits for an address.
		skipAwait: e.SkipAwait && e.Mode == config.ExposeLoadBalancer,
	}, opts...)
	if err != nil {
		return exposure{}, err
	}
	switch e.Mode {
	case config.ExposeGateway:
		route, err := newHTTPRoute(ctx, w, ns, *e.Gateway, svc, opts...)
		if err != nil {
			return exposure{}, err
		}
		return exposure{Service: svc, HTTPRoute: route, URL: pulumi.String(gatewayURL(*e.Gateway)).ToStringOutput()}, nil
	case config.ExposeIngress:
		ing, err := newIngress(ctx, w, ns, *e.Ingress, e.SkipAwait, svc, opts...)
		if err != nil {
			return exposure{}, err
		}
		return exposure{Service: svc, Ingress: ing, URL: ing.Spec.ApplyT(ingressURL).(pulumi.StringOutput)}, nil
	case config.ExposeLoadBalancer:
		return exposure{Service: svc, URL: svc.Status.ApplyT(loadBalancerURL).(pulumi.StringOutput)}, nil
	case config.ExposeNodePort:
		nodePort := svc.Spec.Ports().Index(pulumi.Int(0)).NodePort().Elem()
		return exposure{Service: svc, URL: pulumi.Sprintf("http://%s:%d", outputs.NodeAddress, nodePort)}, nil
	}
	return exposure{}, fmt.Errorf("exposure mode %q is not implemented", e.Mode)
}

func newIngress(ctx *pulumi.Context, w workload, ns pulumi.StringInput, in config.Ingress, skipAwait bool, svc *corev1.Service, opts ...pulumi.ResourceOption) (*networkingv1.Ingress, error) {
	meta := objectMeta(w, ns, w.name())
	annotations := pulumi.StringMap{}
	if skipAwait {
		annotations[skipAwaitAnnotation] = pulumi.String("true")
	}
	if in.CertManagerClusterIssuer != "" {
		annotations[clusterIssuerAnnotation] = pulumi.String(in.CertManagerClusterIssuer)
	}
	if len(annotations) > 0 {
		meta.Annotations = annotations
	}
	spec := networkingv1.IngressSpecArgs{
		IngressClassName: optionalString(in.ClassName),
		Rules: networkingv1.IngressRuleArray{networkingv1.IngressRuleArgs{
			Host: pulumi.String(in.Host),
			Http: networkingv1.HTTPIngressRuleValueArgs{
				Paths: networkingv1.HTTPIngressPathArray{networkingv1.HTTPIngressPathArgs{
					Path:     pulumi.String("/"),
					PathType: pulumi.String("Prefix"),
					Backend: networkingv1.IngressBackendArgs{
						Service: networkingv1.IngressServiceBackendArgs{
							Name: svc.Metadata.Name().Elem(),
							Port: networkingv1.ServiceBackendPortArgs{Name: pulumi.String(httpPortName)},
						},
					},
				}},
			},
		}},
	}
	if in.TLS() {
		spec.Tls = networkingv1.IngressTLSArray{networkingv1.IngressTLSArgs{
			Hosts:      pulumi.StringArray{pulumi.String(in.Host)},
			SecretName: pulumi.String(in.TLSSecretName),
		}}
	}
	return networkingv1.NewIngress(ctx, w.name(), &networkingv1.IngressArgs{
		Metadata: meta,
		Spec:     spec,
	}, opts...)
}

// ingressURL is the scheme and host the Ingress serves.
func ingressURL(spec networkingv1.IngressSpec) string {
	if len(spec.Rules) == 0 || spec.Rules[0].Host == nil {
		return ""
	}
	scheme := "http"
	if len(spec.Tls) > 0 {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s", scheme, *spec.Rules[0].Host)
}

// loadBalancerURL is the address the cloud gave the LoadBalancer Service,
// empty until it has one (and when only rendering manifests).
func loadBalancerURL(status *corev1.ServiceStatus) string {
	if status == nil || status.LoadBalancer == nil || len(status.LoadBalancer.Ingress) == 0 {
		return ""
	}
	addr := status.LoadBalancer.Ingress[0]
	host := addr.Hostname
	if host == nil || *host == "" {
		host = addr.Ip
	}
	if host == nil {
		return ""
	}
	return fmt.Sprintf("http://%s", *host)
}
