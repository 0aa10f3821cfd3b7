package stack

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// servicePort is the port both Services listen on; it forwards to the
// container port named http. The metrics port, where a workload has one,
// keeps its container's number.
const servicePort = 80

// serviceReach is how a Service is reached.
type serviceReach struct {
	// serviceType is ClusterIP, LoadBalancer or NodePort.
	serviceType string
	// nodePort fixes the node port; 0 lets the cluster pick one.
	nodePort int
	// skipAwait stops Pulumi waiting for a load balancer's address.
	skipAwait bool
}

// clusterOnly is a Service reached only from inside the cluster.
var clusterOnly = serviceReach{serviceType: "ClusterIP"}

// newService declares the workload's Service, reached as r says.
func newService(ctx *pulumi.Context, w workload, namespace pulumi.StringInput, r serviceReach, opts ...pulumi.ResourceOption) (*corev1.Service, error) {
	port := corev1.ServicePortArgs{
		Name:       pulumi.String(httpPortName),
		Port:       pulumi.Int(servicePort),
		TargetPort: pulumi.String(httpPortName),
		Protocol:   pulumi.String("TCP"),
	}
	if r.nodePort != 0 {
		port.NodePort = pulumi.Int(r.nodePort)
	}
	ports := corev1.ServicePortArray{port}
	if w.metricsPort != 0 {
		// On the container's number: scrapers address pods, not this port.
		ports = append(ports, corev1.ServicePortArgs{
			Name:       pulumi.String(MetricsPortName),
			Port:       pulumi.Int(w.metricsPort),
			TargetPort: pulumi.String(MetricsPortName),
			Protocol:   pulumi.String("TCP"),
		})
	}
	meta := objectMeta(w, namespace, w.name())
	if r.skipAwait {
		meta.Annotations = pulumi.StringMap{skipAwaitAnnotation: pulumi.String("true")}
	}
	return corev1.NewService(ctx, w.name(), &corev1.ServiceArgs{
		Metadata: meta,
		Spec: corev1.ServiceSpecArgs{
			Type:     pulumi.String(r.serviceType),
			Selector: stringMap(w.selector()),
			Ports:    ports,
		},
	}, opts...)
}

// serviceURL is the in-cluster URL of path on the Service, built from the
// Service's own outputs rather than from the names it was given.
func serviceURL(svc *corev1.Service, clusterDomain, path string) pulumi.StringOutput {
	return pulumi.Sprintf("http://%s.%s.svc.%s:%d%s",
		svc.Metadata.Name().Elem(),
		svc.Metadata.Namespace().Elem(),
		clusterDomain,
		svc.Spec.Ports().Index(pulumi.Int(0)).Port(),
		path)
}
