// Command infra is the tinjis Pulumi program; `pulumi up` runs it.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tinjis/tinjis/infra/stack"
)

func main() {
	pulumi.Run(stack.Program)
}
