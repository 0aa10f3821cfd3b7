package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// stackOutputTimeout bounds the pulumi CLI, which may first load the backend.
const stackOutputTimeout = 2 * time.Minute

// stackOutput reads one output of a stack with the pulumi CLI, run in
// projectDir with the caller's environment (PULUMI_BACKEND_URL,
// PULUMI_CONFIG_PASSPHRASE, ...). Reading outputs needs neither the Go
// language host nor the cluster.
func stackOutput(ctx context.Context, projectDir, stack, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, stackOutputTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "pulumi", "stack", "output", name, "--stack", stack)
	cmd.Dir = projectDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr

	err := cmd.Run()
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return "", errors.New("the pulumi CLI is not on PATH: install it (https://www.pulumi.com/docs/iac/download-install/) or pass --url")
	case err != nil:
		return "", fmt.Errorf("`pulumi stack output %s --stack %s` failed (%v): %s", name, stack, err, strings.TrimSpace(stderr.String()))
	}
	value := strings.TrimSpace(stdout.String())
	if value == "" {
		return "", fmt.Errorf("stack %s has an empty %s output: has `pulumi up` finished, and has the LoadBalancer got an address?", stack, name)
	}
	return value, nil
}
