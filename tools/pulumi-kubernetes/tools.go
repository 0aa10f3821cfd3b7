//go:build tools

// Package tools pins the Kubernetes resource provider that tools/build.sh
// builds. The provider's main package embeds files that its module zip lacks,
// so build.sh copies that package next to this go.mod and generates them;
// these imports keep everything it needs, including generate.go's, in go.sum.
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes"
	_ "github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)
