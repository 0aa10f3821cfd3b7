package integration

import (
	"fmt"
	"strings"
	"testing"
	"text/tabwriter"
)

// attack is one row of an attack table: who tried what, what the stack
// promises, and what the cluster did.
type attack struct {
	attacker, target, action string
	expected, observed       outcome
	// message is the API server's answer, for the table's why column.
	message string
}

// logAttacks prints the table with `go test -v`; every row whose outcome
// differs from its promise fails the test.
func logAttacks(t *testing.T, title string, attacks []attack) {
	t.Helper()
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "attacker\ttarget\taction\texpected\tobserved\twhy")
	for _, a := range attacks {
		why := ""
		if a.observed != admitted {
			why = denialReason(a.message)
		}
		mark := ""
		if a.observed != a.expected {
			mark = "  <-- NOT AS PROMISED"
			t.Errorf("%s: %s on %s was %s, promised %s", a.attacker, a.action, a.target, a.observed, a.expected)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s%s\n", a.attacker, a.target, a.action, a.expected, a.observed, why, mark)
	}
	w.Flush()
	t.Logf("%s:\n%s", title, b.String())
}
