package rules

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

// Pulumi type tokens of the Kubernetes objects the rules read.
const (
	typeNamespace        = "kubernetes:core/v1:Namespace"
	typeService          = "kubernetes:core/v1:Service"
	typePod              = "kubernetes:core/v1:Pod"
	typeDeployment       = "kubernetes:apps/v1:Deployment"
	typeStatefulSet      = "kubernetes:apps/v1:StatefulSet"
	typeDaemonSet        = "kubernetes:apps/v1:DaemonSet"
	typeReplicaSet       = "kubernetes:apps/v1:ReplicaSet"
	typeJob              = "kubernetes:batch/v1:Job"
	typeCronJob          = "kubernetes:batch/v1:CronJob"
	typeNetworkPolicy    = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
	typeIngress          = "kubernetes:networking.k8s.io/v1:Ingress"
	typeHTTPRoute        = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
	typeRole             = "kubernetes:rbac.authorization.k8s.io/v1:Role"
	typeClusterRole      = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
	typeRoleBinding      = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
	typeClusterRoleBind  = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
	typeAdmissionPolicy  = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
	typeAdmissionBinding = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
)

// object is one Kubernetes object as the engine hands it to the pack, with
// the paths of the values not known until the object is created (the
// provider computes them, or they come from another resource's outputs).
type object struct {
	urn string
	// plain is the object with every unknown value left out.
	plain map[string]any
	// unknown lists the unknown values' paths, such as
	// spec.ingress[0].from.
	unknown []string
}

func newObject(r policyx.AnalyzerResource) object {
	o := object{urn: r.URN}
	o.plain, _ = plainValue(property.New(r.Properties), "", &o.unknown).(map[string]any)
	if o.plain == nil {
		o.plain = map[string]any{}
	}
	return o
}

// plainValue is v as plain Go values (maps, slices, strings, numbers,
// booleans), secrets unwrapped; unknown values become nil and their paths
// are added to unknown. Never read an unknown value as empty: callers ask
// unknownUnder first.
func plainValue(v property.Value, path string, unknown *[]string) any {
	switch {
	case v.IsComputed():
		*unknown = append(*unknown, path)
		return nil
	case v.IsMap():
		m := map[string]any{}
		for k, e := range v.AsMap().All {
			if p := plainValue(e, joinKey(path, k), unknown); p != nil {
				m[k] = p
			}
		}
		return m
	case v.IsArray():
		a := make([]any, 0, v.AsArray().Len())
		for i, e := range v.AsArray().All {
			a = append(a, plainValue(e, path+"["+strconv.Itoa(i)+"]", unknown))
		}
		return a
	case v.IsString():
		return v.AsString()
	case v.IsNumber():
		return v.AsNumber()
	case v.IsBool():
		return v.AsBool()
	default:
		// Null, assets, archives and resource references: nothing a rule
		// reads.
		return nil
	}
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// unknownUnder lists the unknown values at or below any of the paths
// (a path and its children: "spec" covers "spec.ingress[0]").
func (o object) unknownUnder(paths ...string) []string {
	var found []string
	for _, u := range o.unknown {
		for _, p := range paths {
			if u == p || strings.HasPrefix(u, p+".") || strings.HasPrefix(u, p+"[") {
				found = append(found, u)
				break
			}
		}
	}
	return found
}

// decode fills into (a typed Kubernetes object) from the object's known
// values, through the types' own JSON decoding.
func (o object) decode(into any) error {
	return decodeValue(o.urn, o.plain, into)
}

// decodeAt fills into from the known values at path (keys joined by dots);
// a path the object does not hold leaves into empty.
func decodeAt(o object, path string, into any) error {
	var v any = o.plain
	for _, key := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[key]
	}
	if v == nil {
		return nil
	}
	return decodeValue(o.urn+" "+path, v, into)
}

func decodeValue(label string, v any, into any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	return nil
}

// cannotVerify is the message for an object whose values a rule needs are
// not known at preview: the rule neither passes nor reads them as empty.
func cannotVerify(what string, unknown []string) string {
	return fmt.Sprintf("cannot verify at preview: %s depends on values known only once applied (%s); compute them in the program from known inputs", what, strings.Join(unknown, ", "))
}
