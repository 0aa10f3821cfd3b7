package stack

import (
	"regexp"
	"testing"
)

func TestDevelopersMayRollOutOnlyTheConfiguredRepository(t *testing.T) {
	const digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name        string
		configured  string
		digestsOnly bool
		image       string
		allowed     bool
	}{
		{"another tag of the repository is allowed", "ghcr.io/tinjis/tinjis/payments:main", false, "ghcr.io/tinjis/tinjis/payments:v2", true},
		{"a digest of the repository is allowed", "ghcr.io/tinjis/tinjis/payments:main", false, "ghcr.io/tinjis/tinjis/payments" + digest, true},
		{"a tag with a digest is allowed", "ghcr.io/tinjis/tinjis/payments:main", false, "ghcr.io/tinjis/tinjis/payments:v2" + digest, true},
		{"another registry is refused", "ghcr.io/tinjis/tinjis/payments:main", false, "docker.io/evil/payments:v2", false},
		{"the same path on another registry is refused", "ghcr.io/tinjis/tinjis/payments:main", false, "evil.example.com/tinjis/tinjis/payments:v2", false},
		{"a repository that only starts the same is refused", "ghcr.io/tinjis/tinjis/payments:main", false, "ghcr.io/tinjis/tinjis/payments-evil:v2", false},
		{"a sub-repository is refused", "ghcr.io/tinjis/tinjis/payments:main", false, "ghcr.io/tinjis/tinjis/payments/evil:v2", false},
		{"the bare repository is refused", "ghcr.io/tinjis/tinjis/payments:main", false, "ghcr.io/tinjis/tinjis/payments", false},
		{"a short digest is refused", "ghcr.io/tinjis/tinjis/payments:main", false, "ghcr.io/tinjis/tinjis/payments@sha256:0123", false},
		{"a tag is refused when digests are required", "ghcr.io/tinjis/tinjis/payments@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945", true, "ghcr.io/tinjis/tinjis/payments:v2", false},
		{"a digest is allowed when digests are required", "ghcr.io/tinjis/tinjis/payments:main", true, "ghcr.io/tinjis/tinjis/payments" + digest, true},
		{"a Docker Hub image is allowed as it is written", "pleo-antaeus:latest", false, "pleo-antaeus:v2", true},
		{"a Docker Hub image is allowed by its full name", "pleo-antaeus:latest", false, "docker.io/library/pleo-antaeus:v2", true},
		{"another Docker Hub image is refused", "pleo-antaeus:latest", false, "docker.io/library/busybox:1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rule, err := newImageRule(tc.configured, tc.digestsOnly)
			if err != nil {
				t.Fatal(err)
			}
			// CEL's matches() is RE2, as Go's regexp.
			if got := regexp.MustCompile(rule.pattern()).MatchString(tc.image); got != tc.allowed {
				t.Errorf("%s with %s configured: allowed %v, want %v (pattern %s)", tc.image, tc.configured, got, tc.allowed, rule.pattern())
			}
		})
	}
}
