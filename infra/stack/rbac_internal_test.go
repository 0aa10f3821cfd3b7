package stack

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestUserNamesBecomeDistinctValidObjectNames(t *testing.T) {
	users := []string{
		"alice@tinjis.example.com",
		"alice.tinjis@example.com", // reads the same once punctuation is dropped
		"Alice@Tinjis.Example.Com",
		"system:serviceaccount:ci:deployer",
		"a-very-long-user-name-from-an-identity-provider-that-likes-long-names@example.com",
		"---",
	}
	seen := map[string]string{}
	for _, user := range users {
		name := "payments-deployer-" + objectNameFor(user)
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			t.Errorf("%q becomes %q, not a valid object name: %v", user, name, msgs)
		}
		if other, taken := seen[name]; taken {
			t.Errorf("%q and %q both become %q", user, other, name)
		}
		seen[name] = user
	}
}
