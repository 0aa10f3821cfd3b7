// Command policy is the tinjis policy pack: `pulumi preview --policy-pack
// policy/` (or the binary `make policy` builds, with PulumiPolicy.yaml
// beside it) checks every stack's declared objects against the rules of
// package rules.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/tinjis/tinjis/policy/rules"
)

func main() {
	if err := policyx.Main(rules.New); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
