// Package quickstart checks the README's reviewer quick start, as far as it
// can run without Docker, kind or a cluster: every make line is a target
// the Makefile runs with those variables, the kind lines name the cluster
// docs/kind.yaml creates, and the challenge's curl lines work against the
// Antaeus stand-in calling the real payments handler.
package quickstart_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tinjis/tinjis/infra/outputs"
	"github.com/tinjis/tinjis/internal/fakeantaeus"
	"github.com/tinjis/tinjis/internal/images"
	"github.com/tinjis/tinjis/payments/server"
	"github.com/tinjis/tinjis/payments/settings"
)

// repoRoot holds the README, the Makefile and docs/.
const repoRoot = "../.."

// quickStart is the shell block of the README between these markers.
const startMarker, endMarker = "<!-- quickstart -->", "<!-- /quickstart -->"

// quickStartLines are the commands of the quick start, comments and blank
// lines left out.
func quickStartLines(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), startMarker)
	block, _, ok2 := strings.Cut(rest, endMarker)
	if !ok || !ok2 {
		t.Fatalf("README.md has no block between %s and %s", startMarker, endMarker)
	}
	var lines []string
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "```") {
			continue
		}
		lines = append(lines, line)
	}
	return lines
}

func linesStarting(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	for _, line := range quickStartLines(t) {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		t.Fatalf("the quick start has no line starting %q", prefix)
	}
	return out
}

func TestEveryMakeLineOfTheQuickStartIsATargetTheMakefileRuns(t *testing.T) {
	// What each line must run, beyond succeeding as a dry run.
	wants := map[string][]string{
		"make images": {"./cmd/image-archives"},
		"make up": {
			"pulumi stack select --create dev",
			"--path kubernetes.context 'kind-tinjis'",
			// The stand-in `make images` writes.
			"--path antaeus.image '" + images.FakeAntaeusRef + "'",
			"--path antaeus.flavor 'prebuilt'",
			"pulumi up --yes --stack dev",
		},
		"make acceptance": {"go run ./cmd/acceptance --stack dev"},
	}
	seen := map[string]bool{}
	for _, line := range linesStarting(t, "make ") {
		fields := strings.Fields(line)
		target := "make " + fields[1]
		t.Run(line, func(t *testing.T) {
			cmd := exec.Command("make", append([]string{"-n"}, fields[1:]...)...)
			cmd.Dir = repoRoot
			cmd.Env = append(os.Environ(), "PULUMI_BACKEND_URL=file:///nonexistent/state", "PULUMI_CONFIG_PASSPHRASE=")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n %s: %v\n%s", strings.Join(fields[1:], " "), err, out)
			}
			for _, want := range wants[target] {
				if !strings.Contains(string(out), want) {
					t.Errorf("make -n %s does not run %q:\n%s", strings.Join(fields[1:], " "), want, out)
				}
			}
		})
		seen[target] = true
	}
	for target := range wants {
		if !seen[target] {
			t.Errorf("the quick start does not run %s", target)
		}
	}
}

func TestTheQuickStartsKindLinesNameTheClusterOfDocsKindYAML(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs", "kind.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cluster struct {
		Name  string `yaml:"name"`
		Nodes []struct {
			Role string `yaml:"role"`
		} `yaml:"nodes"`
	}
	if err := yaml.Unmarshal(data, &cluster); err != nil {
		t.Fatal(err)
	}
	if len(cluster.Nodes) < 2 {
		t.Errorf("docs/kind.yaml has %d nodes; cloud-provider-kind needs a worker, the control plane is excluded from load balancers", len(cluster.Nodes))
	}
	for _, line := range linesStarting(t, "kind ") {
		if strings.HasPrefix(line, "kind create cluster") {
			if !strings.Contains(line, "--config docs/kind.yaml") {
				t.Errorf("%q does not create the cluster of docs/kind.yaml", line)
			}
			continue
		}
		if !strings.HasSuffix(line, "--name "+cluster.Name) {
			t.Errorf("%q does not load into the cluster %s", line, cluster.Name)
		}
	}
	for _, line := range linesStarting(t, "make up") {
		if !strings.Contains(line, "KUBE_CONTEXT=kind-"+cluster.Name) {
			t.Errorf("%q does not deploy to kind's context for %s, kind-%s", line, cluster.Name, cluster.Name)
		}
	}
}

func TestTheChallengesCurlLinesWorkAgainstTheStandInAndRealPayments(t *testing.T) {
	antaeusLine := linesStarting(t, "ANTAEUS=")
	if !strings.Contains(antaeusLine[0], "pulumi stack output "+outputs.AntaeusURL) {
		t.Errorf("%q does not read the stack's %s output", antaeusLine[0], outputs.AntaeusURL)
	}
	curls := linesStarting(t, "curl ")
	if len(curls) != 3 {
		t.Fatalf("%d curl lines, want the challenge's three: pay, list, count PAID", len(curls))
	}
	antaeus, url := startStandIn(t)

	pay := runLine(t, curls[0], url)
	if pay != "true" && pay != "false" {
		t.Errorf("%s printed %q, want Antaeus's true or false", curls[0], pay)
	}
	var listed []fakeantaeus.Invoice
	if err := json.Unmarshal([]byte(runLine(t, curls[1], url)), &listed); err != nil || len(listed) != len(antaeus.Invoices()) {
		t.Errorf("%s printed %d invoices (%v), want the %d Antaeus holds", curls[1], len(listed), err, len(antaeus.Invoices()))
	}
	paid := 0
	for _, inv := range antaeus.Invoices() {
		if inv.Status == "PAID" {
			paid++
		}
	}
	if got, err := strconv.Atoi(runLine(t, curls[2], url)); err != nil || got != paid {
		t.Errorf("%s printed %d (%v), want %d: the PAID invoices Antaeus holds", curls[2], got, err, paid)
	}
	if paid < 2 {
		t.Errorf("%d PAID invoices after a pay call; Antaeus seeds 2", paid)
	}
	t.Logf("pay: %s; %d invoices, %d PAID", pay, len(listed), paid)
}

// startStandIn serves the Antaeus stand-in on loopback, posting its charges
// to the real payments handler at the dev stack's success rate.
func startStandIn(t *testing.T) (*fakeantaeus.Antaeus, string) {
	t.Helper()
	cfg := settings.Default()
	cfg.SuccessRate = 0.5
	seed := int64(7)
	cfg.Seed = &seed
	payments, err := server.New(cfg, server.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	provider := httptest.NewServer(payments.Handler())
	t.Cleanup(provider.Close)
	antaeus, err := fakeantaeus.New(fakeantaeus.Options{ProviderEndpoint: provider.URL, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(antaeus.Close)
	srv := httptest.NewServer(antaeus)
	t.Cleanup(srv.Close)
	return antaeus, srv.URL
}

// runLine runs one line of the quick start in bash with $ANTAEUS set, and
// returns what it printed, trimmed.
func runLine(t *testing.T, line, antaeusURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", line)
	cmd.Env = append(os.Environ(), "ANTAEUS="+antaeusURL)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return strings.TrimSpace(string(out))
}
