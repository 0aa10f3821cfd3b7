// Package quickstart reads the README's reviewer quick start and runs its
// lines, so that the tests run exactly what a reviewer types: the unit
// tests check its make lines and run its curl lines against the Antaeus
// stand-in, the integration suite runs the curl lines against the
// committed local stack deployed on a real node.
package quickstart

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// The quick start is the README's shell block between these markers.
const StartMarker, EndMarker = "<!-- quickstart -->", "<!-- /quickstart -->"

// AntaeusVar is the shell variable the quick start keeps Antaeus's URL in.
const AntaeusVar = "ANTAEUS"

// Lines are the commands of the quick start in the README under root,
// comments and blank lines left out.
func Lines(root string) ([]string, error) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return nil, err
	}
	_, rest, ok := strings.Cut(string(readme), StartMarker)
	block, _, ok2 := strings.Cut(rest, EndMarker)
	if !ok || !ok2 {
		return nil, fmt.Errorf("README.md has no block between %s and %s", StartMarker, EndMarker)
	}
	var lines []string
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "```") {
			continue
		}
		lines = append(lines, line)
	}
	return lines, nil
}

// Starting returns the lines that start with prefix.
func Starting(lines []string, prefix string) []string {
	var out []string
	for _, line := range lines {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out
}

// Challenge is what the challenge's three curl lines printed: the answer
// of POST /rest/v1/invoices/pay, the invoice list, the count of PAID ones.
type Challenge struct {
	Pay, Invoices string
	Paid          int
}

// RunChallenge runs the quick start's three curl lines, in order, against
// Antaeus at antaeusURL (in place of the quick start's own URL).
func RunChallenge(ctx context.Context, lines []string, antaeusURL string) (Challenge, error) {
	curls := Starting(lines, "curl ")
	if len(curls) != 3 {
		return Challenge{}, fmt.Errorf("%d curl lines, want the challenge's three: pay, list, count PAID", len(curls))
	}
	var printed [3]string
	for i, line := range curls {
		out, err := Run(ctx, line, AntaeusVar+"="+antaeusURL)
		if err != nil {
			return Challenge{}, err
		}
		printed[i] = out
	}
	paid, err := strconv.Atoi(printed[2])
	if err != nil {
		return Challenge{}, fmt.Errorf("%s printed %q, not a count", curls[2], printed[2])
	}
	return Challenge{Pay: printed[0], Invoices: printed[1], Paid: paid}, nil
}

// Run runs one line in bash (-euo pipefail) with env added, and returns
// what it printed, trimmed.
func Run(ctx context.Context, line string, env ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", line)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return "", fmt.Errorf("%s: %w: %s", line, err, exit.Stderr)
		}
		return "", fmt.Errorf("%s: %w", line, err)
	}
	return strings.TrimSpace(string(out)), nil
}
