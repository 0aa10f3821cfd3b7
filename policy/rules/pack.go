// Package rules is the tinjis policy pack: what every preview of a stack
// must satisfy, checked on the objects the program declares, against the
// intent the stack's own configuration states.
package rules

import (
	"context"
	"fmt"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/tinjis/tinjis/infra/config"
)

// PackName is the pack's name, as PulumiPolicy.yaml and the preview's
// policy events give it.
const PackName = "tinjis"

// PackVersion is the pack's version.
var PackVersion = semver.MustParse("1.0.0")

// The rules' names, as the preview reports their violations.
const (
	RuleIsolation = "isolation"
	RuleExposure  = "exposure"
	RuleHardening = "hardening"
	RuleImages    = "images"
	RuleRights    = "rights"
	RuleAdmission = "admission"
)

// resourceRule checks one resource: resource policies run before each
// step, also during `pulumi up`.
type resourceRule struct {
	name, description string
	check             func(Intent, policyx.AnalyzerResource) []string
}

// violation is a problem a stack rule found, on the resource it names
// (empty: the stack as a whole).
type violation struct {
	urn, message string
}

// stackRule checks what needs several resources at once; the engine runs
// stack policies after all steps, so they gate at preview.
type stackRule struct {
	name, description string
	check             func(Intent, []policyx.AnalyzerResource) []violation
}

var (
	resourceRules = []resourceRule{
		{RuleExposure, exposureDescription, exposure},
		{RuleHardening, hardeningDescription, hardening},
		{RuleImages, imagesDescription, images},
	}
	stackRules = []stackRule{
		{RuleIsolation, isolationDescription, isolation},
		{RuleRights, rightsDescription, rights},
		{RuleAdmission, admissionDescription, admission},
	}
)

// New is the pack for the stack ctx describes: its config is read with the
// program's own loader, so an invalid config fails here as it fails the
// program, naming the key.
func New(ctx *pulumi.Context) (policyx.PolicyPack, error) {
	cfg, err := config.Load(ctx.Stack(), ctx)
	if err != nil {
		return nil, fmt.Errorf("the stack's config: %w", err)
	}
	return NewForIntent(Intent{Config: cfg})
}

// NewForIntent is the pack for a given intent; every rule is mandatory.
func NewForIntent(in Intent) (policyx.PolicyPack, error) {
	var policies []policyx.Policy
	for _, r := range resourceRules {
		policies = append(policies, policyx.NewResourceValidationPolicy(r.name, policyx.ResourceValidationPolicyArgs{
			Description:      r.description,
			EnforcementLevel: policyx.EnforcementLevelMandatory,
			ValidateResource: func(_ context.Context, args policyx.ResourceValidationArgs) error {
				for _, message := range r.check(in, args.Resource) {
					args.Manager.ReportViolation(message, "")
				}
				return nil
			},
		}))
	}
	for _, r := range stackRules {
		policies = append(policies, policyx.NewStackValidationPolicy(r.name, policyx.StackValidationPolicyArgs{
			Description:      r.description,
			EnforcementLevel: policyx.EnforcementLevelMandatory,
			ValidateStack: func(_ context.Context, args policyx.StackValidationArgs) error {
				for _, v := range r.check(in, args.Resources) {
					args.Manager.ReportViolation(v.message, v.urn)
				}
				return nil
			},
		}))
	}
	return policyx.NewPolicyPack(PackName, PackVersion, policyx.EnforcementLevelMandatory, policies)
}
