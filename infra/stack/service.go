package stack

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// servicePort is the port both Services listen on; it forwards to the
// container port named http.
const servicePort = 80

// newService declares the workload's Service, of the given type (ClusterIP,
// LoadBalancer or NodePort). A nodePort of 0 lets the cluster pick one.
func newService(ctx *pulumi.Context, w workload, namespace pulumi.StringInput, serviceType string, nodePort int, opts ...pulumi.ResourceOption) (*corev1.Service, error) {
	port := corev1.ServicePortArgs{
		Name:       pulumi.String(httpPortName),
		Port:       pulumi.Int(servicePort),
		TargetPort: pulumi.String(httpPortName),
		Protocol:   pulumi.String("TCP"),
	}
	if nodePort != 0 {
		port.NodePort = pulumi.Int(nodePort)
	}
	return corev1.NewService(ctx, w.name(), &corev1.ServiceArgs{
		Metadata: objectMeta(w, namespace, w.name()),
		Spec: corev1.ServiceSpecArgs{
			Type:     pulumi.String(serviceType),
			Selector: stringMap(w.selector()),
			Ports:    corev1.ServicePortArray{port},
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
