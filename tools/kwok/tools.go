//go:build tools

// Package tools pins kwok, which tools/build.sh builds and whose default
// stage configurations it copies next to the binary.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
