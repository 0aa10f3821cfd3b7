//go:build tools

// Package tools pins actionlint, the GitHub Actions workflow linter that
// tools/build.sh builds.
package tools

import _ "github.com/rhysd/actionlint/cmd/actionlint"
