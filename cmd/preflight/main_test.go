package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinjis/tinjis/internal/images"
)

const repoRoot = "../.."

// fakeKubectl puts a kubectl on PATH that knows the contexts in
// contexts, answers /readyz when ready, and lists nodeImages on the nodes.
func fakeKubectl(t *testing.T, contexts string, ready bool, nodeImages ...string) {
	t.Helper()
	bin := t.TempDir()
	readyz := `echo "Unable to connect to the server: dial tcp 127.0.0.1:6443: connect: connection refused" >&2; exit 1`
	if ready {
		readyz = "echo ok"
	}
	script := `#!/usr/bin/env bash
args="$*"
case "$args" in
  *"config get-contexts --output name") printf '%s\n' ` + contexts + `;;
  *"get --raw /readyz") ` + readyz + `;;
  *"get nodes --output jsonpath="*) echo "` + strings.Join(nodeImages, " ") + `";;
  *) echo "unexpected: $args" >&2; exit 2;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "kubectl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// stackDir holds Pulumi.yaml and the committed local stack file, changed
// by edit.
func stackDir(t *testing.T, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	project, err := os.ReadFile(filepath.Join(repoRoot, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(repoRoot, "Pulumi.local.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), project, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.local.yaml"), []byte(edit(string(data))), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPreflightSaysWhatToDoInOneSentence(t *testing.T) {
	unchanged := func(s string) string { return s }
	both := []string{"registry.k8s.io/pause:3.10", images.PaymentsRef, images.FakeAntaeusRef}
	for _, tc := range []struct {
		name  string
		stack string
		edit  func(string) string
		setup func(t *testing.T)
		want  string
	}{
		{"no stack file", "prod", unchanged, func(t *testing.T) { fakeKubectl(t, "kind-tinjis", true, both...) },
			"There is no Pulumi.prod.yaml: the stacks are local; run make up STACK=<one of them>, or write Pulumi.prod.yaml for a stack of your own (docs/configuration.md)."},
		{"a misspelt key", "local", func(s string) string { return s + "  tinjis:highAvailabilty: true\n" },
			func(t *testing.T) { fakeKubectl(t, "kind-tinjis", true, both...) },
			"Pulumi.local.yaml is not valid, fix it first: tinjis:highAvailabilty is not a setting of this program: did you mean tinjis:highAvailability?"},
		{"no kubectl", "local", unchanged, func(t *testing.T) { t.Setenv("PATH", t.TempDir()) },
			"kubectl is not on PATH: install it (https://kubernetes.io/docs/tasks/tools/), make up asks the cluster with it before deploying."},
		{"no kind cluster yet", "local", unchanged, func(t *testing.T) { fakeKubectl(t, "minikube", true, both...) },
			"The kube context kind-tinjis of Pulumi.local.yaml is not in your kubeconfig: create the cluster with `kind create cluster --config docs/kind.yaml` (kind names its context kind-tinjis), then run make up again."},
		{"another cluster's context", "local", func(s string) string { return strings.Replace(s, "context: kind-tinjis", "context: work", 1) },
			func(t *testing.T) { fakeKubectl(t, "'kind-tinjis minikube'", true, both...) },
			"The kube context work of Pulumi.local.yaml is not in your kubeconfig: add it, or set tinjis:kubernetes.context in Pulumi.local.yaml to one of: kind-tinjis, minikube."},
		{"the cluster is stopped", "local", unchanged, func(t *testing.T) { fakeKubectl(t, "kind-tinjis", false, both...) },
			"The cluster of context kind-tinjis does not answer (Unable to connect to the server: dial tcp 127.0.0.1:6443: connect: connection refused): start it (`docker start tinjis-control-plane`) or create it (`kind create cluster --config docs/kind.yaml`), then run make up again."},
		{"the stand-in was not loaded", "local", unchanged, func(t *testing.T) { fakeKubectl(t, "kind-tinjis", true, images.PaymentsRef) },
			"The image " + images.FakeAntaeusRef + " is on none of the cluster's nodes: run `make images`, then `kind load image-archive .images/fake-antaeus.tar --name tinjis`, then make up again."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup(t)
			dir := stackDir(t, tc.edit)
			var stdout, stderr strings.Builder

			code := run(context.Background(), []string{"--stack", tc.stack, "--dir", dir, "--images-dir", filepath.Join(dir, ".images")}, &stdout, &stderr)

			if code != exitProblem || strings.TrimSpace(stderr.String()) != tc.want {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and exactly:\n%s", code, stderr.String(), exitProblem, tc.want)
			}
		})
	}
}

func TestPreflightPassesWhenTheClusterHasEverything(t *testing.T) {
	fakeKubectl(t, "kind-tinjis", true, "docker.io/kindest/kindnetd:v1", images.PaymentsRef, images.FakeAntaeusRef)
	var stdout, stderr strings.Builder

	code := run(context.Background(), []string{"--stack", "local", "--dir", repoRoot}, &stdout, &stderr)

	if code != exitReady {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if want := "the cluster of context kind-tinjis answers"; !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout %q, want it to say %q", stdout.String(), want)
	}
}
