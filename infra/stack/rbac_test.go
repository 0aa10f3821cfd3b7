package stack_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tinjis/tinjis/infra/outputs"
	rbacv1 "k8s.io/api/rbac/v1"
)

func TestDevelopersAreBoundExactlyWhereTheConfigSays(t *testing.T) {
	for _, m := range committedManifests(t) {
		t.Run(m.stack, func(t *testing.T) {
			var want []string
			for _, dev := range m.config.Developers {
				for _, service := range dev.Services {
					d := m.deploymentOf(t, service)
					want = append(want, grant(dev.Name, d.Namespace))
				}
			}
			var got []string
			for _, b := range m.bindings {
				if b.RoleRef.Kind != "Role" || !m.hasRole(b.Namespace, b.RoleRef.Name) {
					t.Errorf("binding %s/%s refers to %s %q, not a Role the stack declares in its namespace", b.Namespace, b.Name, b.RoleRef.Kind, b.RoleRef.Name)
				}
				for _, s := range b.Subjects {
					if s.Kind != rbacv1.UserKind {
						t.Errorf("binding %s/%s binds a %s, want only users", b.Namespace, b.Name, s.Kind)
					}
					got = append(got, grant(s.Name, b.Namespace))
				}
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("bindings grant\n  %v\nwant exactly\n  %v", got, want)
			}
		})
	}
}

func grant(user, namespace string) string { return fmt.Sprintf("%s may deploy in %s", user, namespace) }

func (m manifests) hasRole(namespace, name string) bool {
	return slices.ContainsFunc(m.roles, func(r rbacv1.Role) bool { return r.Namespace == namespace && r.Name == name })
}

func TestDeployerRolesOnlyRollOutTheirOwnDeployment(t *testing.T) {
	allowedVerbs := []string{"get", "list", "watch", "patch", "update"}
	for _, m := range committedManifests(t) {
		for _, role := range m.roles {
			t.Run(m.stack+"/"+role.Namespace+"/"+role.Name, func(t *testing.T) {
				var rollsOut bool
				for _, rule := range role.Rules {
					for _, verb := range rule.Verbs {
						if !slices.Contains(allowedVerbs, verb) {
							t.Errorf("rule %+v allows %q", rule, verb)
						}
					}
					for _, resource := range rule.Resources {
						if resource == "*" || resource == "secrets" || slices.Contains(rule.APIGroups, "*") {
							t.Errorf("rule %+v reaches %q", rule, resource)
						}
					}
					writes := slices.Contains(rule.Verbs, "patch") || slices.Contains(rule.Verbs, "update")
					if !writes {
						continue
					}
					deployments := m.deploymentsIn(role.Namespace)
					if !slices.Equal(rule.APIGroups, []string{"apps"}) || !slices.Equal(rule.Resources, []string{"deployments"}) ||
						len(rule.ResourceNames) != 1 || !slices.Contains(deployments, rule.ResourceNames[0]) {
						t.Errorf("rule %+v writes more than one Deployment of %v", rule, deployments)
					}
					rollsOut = true
				}
				if !rollsOut {
					t.Error("the role cannot roll out anything")
				}
			})
		}
	}
}

func (m manifests) deploymentsIn(namespace string) []string {
	var names []string
	for _, d := range m.deployments {
		if d.Namespace == namespace {
			names = append(names, d.Name)
		}
	}
	return names
}

func TestTheDeployersOutputMatchesTheConfig(t *testing.T) {
	for _, name := range committedStacks {
		m := manifestsOf(t, mustDeploy(t, name))
		want := map[string]any{}
		for _, dev := range m.config.Developers {
			var services []any
			for _, s := range dev.Services {
				services = append(services, string(s))
			}
			want[dev.Name] = services
		}
		if got := m.outputs[outputs.Deployers]; !equalJSON(t, got, want) {
			t.Errorf("stack %s: deployers output %v, want %v", name, got, want)
		}
	}
}
