package stack

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/tinjis/tinjis/infra/config"
)

// newHTTPRoute attaches the workload's Service to the Gateway the stack
// names, for the stack's host. The spec is built from the Gateway API's
// own Go types; the provider gets it as the object's fields.
func newHTTPRoute(ctx *pulumi.Context, w workload, ns pulumi.StringInput, g config.Gateway, svc *corev1.Service, opts ...pulumi.ResourceOption) (*apiextensions.CustomResource, error) {
	spec := pulumi.All(svc.Metadata.Name().Elem(), svc.Spec.Ports().Index(pulumi.Int(0)).Port()).ApplyT(
		func(backend []any) (map[string]any, error) {
			return fields(httpRouteSpec(g, backend[0].(string), backend[1].(int)))
		}).(pulumi.MapOutput)
	return apiextensions.NewCustomResource(ctx, w.name(), &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String(gatewayv1.GroupVersion.String()),
		Kind:        pulumi.String("HTTPRoute"),
		Metadata:    objectMeta(w, ns, w.name()),
		OtherFields: kubernetes.UntypedArgs{"spec": spec},
	}, opts...)
}

// httpRouteSpec sends every request for the host, on the Gateway (and
// listener) the stack names, to the Service's port.
func httpRouteSpec(g config.Gateway, service string, port int) gatewayv1.HTTPRouteSpec {
	parent := gatewayv1.ParentReference{
		Name:      gatewayv1.ObjectName(g.Name),
		Namespace: new(gatewayv1.Namespace(g.Namespace)),
	}
	if g.SectionName != "" {
		parent.SectionName = new(gatewayv1.SectionName(g.SectionName))
	}
	return gatewayv1.HTTPRouteSpec{
		CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{parent}},
		Hostnames:       []gatewayv1.Hostname{gatewayv1.Hostname(g.Host)},
		Rules: []gatewayv1.HTTPRouteRule{{
			Matches: []gatewayv1.HTTPRouteMatch{{
				Path: &gatewayv1.HTTPPathMatch{Type: new(gatewayv1.PathMatchPathPrefix), Value: new("/")},
			}},
			BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{
				BackendObjectReference: gatewayv1.BackendObjectReference{
					Name: gatewayv1.ObjectName(service),
					Port: new(gatewayv1.PortNumber(port)),
				},
			}}},
		}},
	}
}

// fields are a typed object as the JSON fields the API server reads.
func fields(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// gatewayURL is the scheme and host the Gateway serves the route on.
func gatewayURL(g config.Gateway) string {
	scheme := "http"
	if g.HTTPS {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s", scheme, g.Host)
}
