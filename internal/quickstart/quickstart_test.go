// Package quickstart_test checks the README's reviewer quick start, as far
// as it can run without Docker, kind or a cluster: every make line is a
// target the Makefile runs with those variables, the kind lines, the local
// stack file and docs/kind.yaml agree on the cluster, the port and the
// archives, and the challenge's curl lines work against the Antaeus
// stand-in calling the real payments handler. The integration suite runs
// the same lines against the local stack on a real node.
package quickstart_test

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/internal/fakeantaeus"
	"github.com/tinjis/tinjis/internal/images"
	"github.com/tinjis/tinjis/internal/quickstart"
	"github.com/tinjis/tinjis/internal/stackfile"
	"github.com/tinjis/tinjis/payments/server"
	"github.com/tinjis/tinjis/payments/settings"
)

// repoRoot holds the README, the Makefile and docs/.
const repoRoot = "../.."

// localStack is the quick start's stack.
const localStack = "local"

func quickStartLines(t *testing.T) []string {
	t.Helper()
	lines, err := quickstart.Lines(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func linesStarting(t *testing.T, prefix string) []string {
	t.Helper()
	lines := quickstart.Starting(quickStartLines(t), prefix)
	if len(lines) == 0 {
		t.Fatalf("the quick start has no line starting %q", prefix)
	}
	return lines
}

// kindCluster is what the quick start needs of docs/kind.yaml.
type kindCluster struct {
	Name  string `yaml:"name"`
	Nodes []struct {
		Role              string `yaml:"role"`
		ExtraPortMappings []struct {
			ContainerPort int    `yaml:"containerPort"`
			HostPort      int    `yaml:"hostPort"`
			ListenAddress string `yaml:"listenAddress"`
		} `yaml:"extraPortMappings"`
	} `yaml:"nodes"`
}

func readKindCluster(t *testing.T) kindCluster {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs", "kind.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cluster kindCluster
	if err := yaml.Unmarshal(data, &cluster); err != nil {
		t.Fatal(err)
	}
	return cluster
}

// localConfig is the quick start's stack file, loaded as the program
// loads it.
func localConfig(t *testing.T) config.Config {
	t.Helper()
	values, err := stackfile.Load(repoRoot, localStack)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(localStack, values)
	if err != nil {
		t.Fatalf("Pulumi.%s.yaml: %v", localStack, err)
	}
	return cfg
}

func TestEveryMakeLineOfTheQuickStartIsATargetTheMakefileRuns(t *testing.T) {
	// What each line must run, beyond succeeding as a dry run.
	wants := map[string][]string{
		"make images": {"./cmd/image-archives"},
		"make up": {
			"go run ./cmd/preflight --stack " + localStack,
			"pulumi stack select --create " + localStack,
			"pulumi up --yes --stack " + localStack,
		},
		"make acceptance": {"go run ./cmd/acceptance --url 'http://localhost:"},
		"make down": {
			"pulumi destroy --yes --stack " + localStack,
			// The state too; the committed stack file stays.
			"pulumi stack rm --yes --preserve-config --stack " + localStack,
		},
	}
	nodePort := strconv.Itoa(localConfig(t).Expose.NodePort)
	seen := map[string]bool{}
	for _, line := range linesStarting(t, "make ") {
		target := "make " + strings.Fields(line)[1]
		t.Run(line, func(t *testing.T) {
			dryRun := "make -n" + strings.TrimPrefix(line, "make")
			out, err := quickstart.Run(t.Context(), "cd "+repoRoot+" && "+dryRun,
				quickstart.AntaeusVar+"=http://localhost:"+nodePort,
				"PULUMI_BACKEND_URL=file:///nonexistent/state", "PULUMI_CONFIG_PASSPHRASE=")
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range wants[target] {
				if !strings.Contains(out, want) {
					t.Errorf("%s does not run %q:\n%s", dryRun, want, out)
				}
			}
			if strings.Contains(out, "pulumi config set") {
				t.Errorf("%s writes the stack file:\n%s", dryRun, out)
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

func TestTheKindClusterTheStackFileAndTheQuickStartAgree(t *testing.T) {
	cluster := readKindCluster(t)
	cfg := localConfig(t)

	if want := "kind-" + cluster.Name; cfg.Kubernetes.Context != want {
		t.Errorf("Pulumi.%s.yaml deploys to context %q; kind names docs/kind.yaml's cluster %q", localStack, cfg.Kubernetes.Context, want)
	}
	if cfg.Expose.Mode != config.ExposeNodePort {
		t.Errorf("Pulumi.%s.yaml exposes Antaeus as %s; only a node port reaches it through kind's port mapping", localStack, cfg.Expose.Mode)
	}
	published := false
	for _, node := range cluster.Nodes {
		for _, m := range node.ExtraPortMappings {
			if m.ContainerPort == cfg.Expose.NodePort && m.HostPort == cfg.Expose.NodePort {
				published = true
				if m.ListenAddress != "127.0.0.1" {
					t.Errorf("docs/kind.yaml publishes port %d on %q; keep it on the host's loopback", m.HostPort, m.ListenAddress)
				}
			}
		}
	}
	if !published {
		t.Errorf("docs/kind.yaml does not publish Antaeus's node port %d on the same host port", cfg.Expose.NodePort)
	}
	if want := quickstart.AntaeusVar + "=http://localhost:" + strconv.Itoa(cfg.Expose.NodePort); linesStarting(t, quickstart.AntaeusVar+"=")[0] != want {
		t.Errorf("the quick start sets %q, want %q", linesStarting(t, quickstart.AntaeusVar+"=")[0], want)
	}
	for _, want := range []string{cfg.Payments.Image, cfg.Antaeus.Image} {
		if want != images.PaymentsRef && want != images.FakeAntaeusRef {
			t.Errorf("Pulumi.%s.yaml runs %s, which make images does not write", localStack, want)
		}
	}

	loads := map[string]bool{}
	for _, line := range linesStarting(t, "kind ") {
		switch {
		case strings.HasPrefix(line, "kind create cluster"):
			if line != "kind create cluster --config docs/kind.yaml" {
				t.Errorf("%q does not create the cluster of docs/kind.yaml", line)
			}
		case strings.HasPrefix(line, "kind load image-archive "):
			loads[strings.Fields(line)[3]] = true
			fallthrough
		default:
			if !strings.HasSuffix(line, "--name "+cluster.Name) {
				t.Errorf("%q does not name the cluster %s", line, cluster.Name)
			}
		}
	}
	for _, archive := range images.Archives {
		if !loads[".images/"+archive.File] {
			t.Errorf("the quick start does not load .images/%s", archive.File)
		}
	}
	if lines := linesStarting(t, "kind delete cluster"); lines[0] != "kind delete cluster --name "+cluster.Name {
		t.Errorf("%q does not delete the cluster %s", lines[0], cluster.Name)
	}
}

func TestTheChallengesCurlLinesWorkAgainstTheStandInAndRealPayments(t *testing.T) {
	antaeus, url := startStandIn(t)

	got, err := quickstart.RunChallenge(t.Context(), quickStartLines(t), url)
	if err != nil {
		t.Fatal(err)
	}

	if got.Pay != "true" && got.Pay != "false" {
		t.Errorf("the pay line printed %q, want Antaeus's true or false", got.Pay)
	}
	var listed []fakeantaeus.Invoice
	if err := json.Unmarshal([]byte(got.Invoices), &listed); err != nil || len(listed) != len(antaeus.Invoices()) {
		t.Errorf("the list line printed %d invoices (%v), want the %d Antaeus holds", len(listed), err, len(antaeus.Invoices()))
	}
	paid := 0
	for _, inv := range antaeus.Invoices() {
		if inv.Status == fakeantaeus.StatusPaid {
			paid++
		}
	}
	if got.Paid != paid {
		t.Errorf("the count line printed %d, want %d: the PAID invoices Antaeus holds", got.Paid, paid)
	}
	if paid < 2 {
		t.Errorf("%d PAID invoices after a pay call; Antaeus seeds 2", paid)
	}
	t.Logf("pay: %s; %d invoices, %d PAID", got.Pay, len(listed), got.Paid)
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
