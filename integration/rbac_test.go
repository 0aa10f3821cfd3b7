package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"text/tabwriter"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tinjis/tinjis/infra/config"
)

// permission is one question put to the API server's authorizer.
type permission struct {
	group, resource, verb string
	// named asks about the service's own object (e.g. its Deployment)
	// rather than about any object of the resource.
	named bool
}

func (p permission) String() string { return p.resource + ":" + p.verb }

// deployVerbs are what deploying a service takes: updating or patching its
// own Deployment (`kubectl set image`, `kubectl rollout restart`).
var deployVerbs = map[string]bool{"update": true, "patch": true}

// checkedPermissions are the matrix's columns: every write on Deployments,
// and every write that would widen a developer's access.
var checkedPermissions = func() []permission {
	var ps []permission
	for _, verb := range []string{"create", "update", "patch", "delete"} {
		ps = append(ps, permission{group: "apps", resource: "deployments", verb: verb, named: verb != "create"})
	}
	for _, r := range []struct{ group, resource string }{
		{"rbac.authorization.k8s.io", "roles"},
		{"rbac.authorization.k8s.io", "rolebindings"},
		{"networking.k8s.io", "networkpolicies"},
	} {
		for _, verb := range []string{"create", "update", "patch", "delete"} {
			ps = append(ps, permission{group: r.group, resource: r.resource, verb: verb})
		}
	}
	return append(ps, permission{resource: "secrets", verb: "get"})
}()

// expectedAllowed is the policy the program must implement: a developer may
// deploy exactly the services the stack's config lists for them, and
// nothing else on the checked resources.
func expectedAllowed(cfg config.Config, user string, service config.Service, p permission) bool {
	if p.resource != "deployments" || !deployVerbs[p.verb] {
		return false
	}
	for _, d := range cfg.Developers {
		if d.Name == user && d.Deploys(service) {
			return true
		}
	}
	return false
}

// accessRow is the authorizer's answers for one user, stack and service.
type accessRow struct {
	user, stack string
	service     config.Service
	namespace   string
	allowed     []bool
}

// askAuthorizer puts every checked permission to the API server as a
// SubjectAccessReview for user (an authenticated user with no groups of its
// own, as a client certificate with only a CN authenticates).
func askAuthorizer(ctx context.Context, admin kubernetes.Interface, user, namespace, objectName string) ([]bool, error) {
	answers := make([]bool, len(checkedPermissions))
	for i, p := range checkedPermissions {
		attrs := &authorizationv1.ResourceAttributes{
			Namespace: namespace, Verb: p.verb, Group: p.group, Resource: p.resource,
		}
		if p.named {
			attrs.Name = objectName
		}
		review, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               user,
				Groups:             []string{"system:authenticated"},
				ResourceAttributes: attrs,
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("SubjectAccessReview of %s %s in %s: %w", user, p, namespace, err)
		}
		answers[i] = review.Status.Allowed
	}
	return answers, nil
}

// formatMatrix renders the rows as a table with one column per resource
// and one mark per verb: ✓ where the API server allows, · where it denies.
func formatMatrix(rows []accessRow) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(w, "user\tstack\tservice\tnamespace")
	for _, g := range groupByResource(nil) {
		fmt.Fprintf(w, "\t%s %s", g.resource, strings.Join(abbreviated(g.verbs), "/"))
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s", r.user, r.stack, r.service, r.namespace)
		for _, g := range groupByResource(r.allowed) {
			fmt.Fprintf(w, "\t%s", strings.Join(g.marks, " "))
		}
		fmt.Fprintln(w)
	}
	w.Flush()
	return b.String()
}

type resourceColumn struct {
	resource     string
	verbs, marks []string
}

// groupByResource groups the checked permissions and their answers (nil for
// the header) by resource.
func groupByResource(allowed []bool) []resourceColumn {
	var cols []resourceColumn
	for i, p := range checkedPermissions {
		if len(cols) == 0 || cols[len(cols)-1].resource != p.resource {
			cols = append(cols, resourceColumn{resource: p.resource})
		}
		col := &cols[len(cols)-1]
		col.verbs = append(col.verbs, p.verb)
		mark := "·"
		if allowed != nil && allowed[i] {
			mark = "✓"
		}
		col.marks = append(col.marks, mark)
	}
	return cols
}

// abbreviated shortens verbs to their initials when there are several.
func abbreviated(verbs []string) []string {
	if len(verbs) < 2 {
		return verbs
	}
	short := make([]string, len(verbs))
	for i, v := range verbs {
		short[i] = v[:1]
	}
	return short
}

func logMatrix(t *testing.T, rows []accessRow) {
	t.Helper()
	t.Logf("RBAC as the API server answers it (✓ allowed, · denied; c/u/p/d = create/update/patch/delete):\n%s", formatMatrix(rows))
}
