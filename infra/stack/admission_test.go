package stack_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/stack"
)

const (
	typeAdmissionPolicy        = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
	typeAdmissionPolicyBinding = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
)

// admission is what a run declared for admission control.
type admission struct {
	policies []admissionregistrationv1.ValidatingAdmissionPolicy
	bindings []admissionregistrationv1.ValidatingAdmissionPolicyBinding
}

func admissionOf(t *testing.T, d deployment) admission {
	t.Helper()
	return admission{
		policies: objects[admissionregistrationv1.ValidatingAdmissionPolicy](t, d.declared, typeAdmissionPolicy),
		bindings: objects[admissionregistrationv1.ValidatingAdmissionPolicyBinding](t, d.declared, typeAdmissionPolicyBinding),
	}
}

// policiesIn returns the policies bound to exactly the namespace.
func (a admission) policiesIn(namespace string) []admissionregistrationv1.ValidatingAdmissionPolicy {
	var bound []admissionregistrationv1.ValidatingAdmissionPolicy
	for _, b := range a.bindings {
		selector := b.Spec.MatchResources.NamespaceSelector
		if selector == nil || len(selector.MatchLabels) != 1 || len(selector.MatchExpressions) != 0 ||
			selector.MatchLabels["kubernetes.io/metadata.name"] != namespace {
			continue
		}
		for _, p := range a.policies {
			if p.Name == b.Spec.PolicyName {
				bound = append(bound, p)
			}
		}
	}
	return bound
}

// exemptUsers are the user names a policy's match condition leaves out.
func exemptUsers(t *testing.T, p admissionregistrationv1.ValidatingAdmissionPolicy) []string {
	t.Helper()
	if len(p.Spec.MatchConditions) != 1 {
		t.Fatalf("policy %s has %d match conditions, want one leaving out the deployer and the controllers", p.Name, len(p.Spec.MatchConditions))
	}
	list, ok := strings.CutPrefix(p.Spec.MatchConditions[0].Expression, "!(request.userInfo.username in ")
	list, _, found := strings.Cut(list, ")")
	var users []string
	if !ok || !found || json.Unmarshal([]byte(list), &users) != nil {
		t.Fatalf("policy %s matches %q, want every request but those of a list of users", p.Name, p.Spec.MatchConditions[0].Expression)
	}
	return users
}

func TestEveryDeveloperUpdateOfADeploymentIsCheckedByTheImageOnlyPolicy(t *testing.T) {
	for _, name := range committedStacks {
		t.Run(name, func(t *testing.T) {
			d := mustDeploy(t, name)
			m, a := manifestsOf(t, d), admissionOf(t, d)
			for _, service := range config.Services {
				namespace := m.deploymentOf(t, service).Namespace
				policies := a.policiesIn(namespace)
				if len(policies) != 1 {
					t.Fatalf("%d policies bound to %s, want one", len(policies), namespace)
				}
				p := policies[0]
				want := append(slices.Clone(m.config.Deployer.Users), stack.ClusterControllers...)
				if got := exemptUsers(t, p); !slices.Equal(got, want) {
					t.Errorf("policy %s leaves out %v, want exactly the deployer and the controllers: %v", p.Name, got, want)
				}
				if p.Spec.FailurePolicy == nil || *p.Spec.FailurePolicy != admissionregistrationv1.Fail {
					t.Errorf("policy %s does not fail closed", p.Name)
				}
				rules := p.Spec.MatchConstraints.ResourceRules
				if len(rules) != 1 || !slices.Equal(rules[0].APIGroups, []string{"apps"}) || !slices.Equal(rules[0].Resources, []string{"deployments"}) ||
					!slices.Equal(rules[0].Operations, []admissionregistrationv1.OperationType{admissionregistrationv1.Update}) {
					t.Errorf("policy %s matches %+v, want updates of Deployments", p.Name, rules)
				}
				checkImageRule(t, m.config, service, p)
			}
			for _, b := range a.bindings {
				if !slices.Equal(b.Spec.ValidationActions, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}) {
					t.Errorf("binding %s only %v, want Deny", b.Name, b.Spec.ValidationActions)
				}
			}
		})
	}
}

// checkImageRule asserts the policy's image rule names the repository of
// the service's configured image, and demands digests where the stack says so.
func checkImageRule(t *testing.T, cfg config.Config, service config.Service, p admissionregistrationv1.ValidatingAdmissionPolicy) {
	t.Helper()
	image := map[config.Service]string{config.ServicePayments: cfg.Payments.Image, config.ServiceAntaeus: cfg.Antaeus.Image}[service]
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		t.Fatal(err)
	}
	want := "a tag or digest of " + reference.FamiliarName(named)
	if cfg.DeveloperDigestsOnly {
		want = "a digest of " + reference.FamiliarName(named)
	}
	var messages []string
	for _, v := range p.Spec.Validations {
		messages = append(messages, v.Message)
		if strings.HasPrefix(v.Message, stack.ImageRuleMarker+" "+want+":") {
			return
		}
	}
	t.Errorf("policy %s has no rule allowing only %s; its messages:\n%s", p.Name, want, strings.Join(messages, "\n"))
}

func TestChangingTheTeamChangesOnlyTheRoleBindings(t *testing.T) {
	committed := committedConfig(t, "dev")
	before := mustDeploy(t, "dev")
	team := append(committedDevelopers(t, committed), config.Developer{Name: "dave@tinjis.example.com", Services: []config.Service{config.ServicePayments}})
	after, err := deploy(t, "dev", committed.with(t, config.KeyDevelopers, nil, mustJSON(t, team)))
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{typeAdmissionPolicy, typeAdmissionPolicyBinding, typeRole, typeDeployment} {
		if a, b := inputsOf(t, before, typ), inputsOf(t, after, typ); a != b {
			t.Errorf("adding a developer changed the %s objects: only the RoleBindings may change", typ)
		}
	}
	if a, b := inputsOf(t, before, typeRoleBinding), inputsOf(t, after, typeRoleBinding); a == b {
		t.Error("adding a developer did not change the RoleBindings")
	}
}

// inputsOf is every declared resource of the type, as JSON, in a fixed order.
func inputsOf(t *testing.T, d deployment, typ string) string {
	t.Helper()
	var all []string
	for _, r := range d.ofType(typ) {
		all = append(all, mustJSON(t, reveal(resource.NewObjectProperty(r.inputs)).Mappable()))
	}
	// Components declare their children concurrently: the order varies.
	slices.Sort(all)
	return strings.Join(all, "\n")
}

func committedDevelopers(t *testing.T, cfg stackConfig) []config.Developer {
	t.Helper()
	var team []config.Developer
	if err := json.Unmarshal([]byte(cfg[config.KeyDevelopers]), &team); err != nil {
		t.Fatal(err)
	}
	return team
}

func TestDevelopersAreGrantedRightsOnlyAfterThePolicyIsBound(t *testing.T) {
	for _, name := range committedStacks {
		d := mustDeploy(t, name)
		bindings := d.ofType(typeAdmissionPolicyBinding)
		for _, rb := range d.ofType(typeRoleBinding) {
			if !slices.ContainsFunc(bindings, func(b declaredResource) bool { return rb.dependsOn(b.typ, b.name) }) {
				t.Errorf("stack %s: RoleBinding %s does not wait for a policy binding; it depends on %v", name, rb.name, rb.dependencies)
			}
		}
	}
}

func TestTheStackDoesNotGrowWithTheTeam(t *testing.T) {
	counts := map[int]int{}
	for _, team := range []int{2, 100, 500} {
		d, err := deploy(t, "dev", committedConfig(t, "dev").with(t, config.KeyDevelopers, nil, mustJSON(t, developers(team))))
		if err != nil {
			t.Fatal(err)
		}
		counts[team] = d.count()
	}
	if counts[100] != counts[2] || counts[500] != counts[2] {
		t.Errorf("resources declared by team size: %v; want the same for every size", counts)
	}
}

// developers is a team of n, each allowed one of the services in turn.
func developers(n int) []config.Developer {
	team := make([]config.Developer, n)
	for i := range team {
		team[i] = config.Developer{
			Name:     fmt.Sprintf("dev%03d@tinjis.example.com", i),
			Services: []config.Service{config.Services[i%len(config.Services)]},
		}
	}
	return team
}

func TestADigestsOnlySwitchThatIsNotABooleanIsRefusedNamingTheKey(t *testing.T) {
	_, err := deploy(t, "dev", committedConfig(t, "dev").with(t, config.KeyDeveloperDigestsOnly, nil, "yes"))
	if err == nil || !strings.Contains(err.Error(), `tinjis:developerDigestsOnly must be true or false, not "yes"`) {
		t.Errorf("error %v, want one naming tinjis:developerDigestsOnly", err)
	}
}
