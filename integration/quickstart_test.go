package integration

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/infra/outputs"
	"github.com/tinjis/tinjis/integration/controlplane"
	"github.com/tinjis/tinjis/integration/internal/pulumistack"
	"github.com/tinjis/tinjis/integration/internal/repo"
	"github.com/tinjis/tinjis/internal/quickstart"
)

// clusterOnly points a committed stack at the test cluster and changes
// nothing else.
func clusterOnly(cp *controlplane.ControlPlane) []pulumistack.Override {
	return []pulumistack.Override{
		{Path: config.KeyKubernetes + ".kubeconfig", Value: cp.Kubeconfig(controlplane.AdminUser)},
		{Path: config.KeyKubernetes + ".context", Value: controlplane.ContextName},
		// The test runs pulumi up as the cluster's admin: it is the deployer.
		{Path: config.KeyDeployer + ".users[0]", Value: controlplane.AdminUser},
		{Path: config.KeyDeployer + ".groups"},
	}
}

// runQuickStartLines runs the README's ANTAEUS= and curl lines against
// Antaeus at antaeusURL: the quick start's URL with the node's address for
// localhost, where kind publishes the node port.
func runQuickStartLines(t *testing.T, antaeusURL string, nodePort int) {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	lines, err := quickstart.Lines(root)
	if err != nil {
		t.Fatal(err)
	}
	set := quickstart.Starting(lines, quickstart.AntaeusVar+"=")
	if len(set) != 1 {
		t.Fatalf("the quick start sets %s %d times, want once", quickstart.AntaeusVar, len(set))
	}
	readmeURL := strings.TrimPrefix(set[0], quickstart.AntaeusVar+"=")
	if want := "http://localhost:" + strconv.Itoa(nodePort); readmeURL != want {
		t.Errorf("the quick start reaches Antaeus at %s; the stack's node port is published at %s", readmeURL, want)
	}
	if got := strings.Replace(readmeURL, "localhost", controlplane.NodeIP, 1); got != antaeusURL {
		t.Errorf("the quick start's URL on the node is %s, the stack's %s output %s", got, outputs.AntaeusURL, antaeusURL)
	}

	got, err := quickstart.RunChallenge(t.Context(), lines, antaeusURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the quick start's step 4 on the node:\n%s\n%s\n%d", got.Pay, got.Invoices, got.Paid)
	if got.Pay != "true" && got.Pay != "false" {
		t.Errorf("the pay line printed %q, want true or false", got.Pay)
	}
	var invoices []struct{ Status string }
	if err := json.Unmarshal([]byte(got.Invoices), &invoices); err != nil || len(invoices) != 10 {
		t.Errorf("the list line printed %d invoices (%v), want Antaeus's 10", len(invoices), err)
	}
	paid := 0
	for _, invoice := range invoices {
		if invoice.Status == "PAID" {
			paid++
		}
	}
	if got.Paid != paid {
		t.Errorf("the count line printed %d, the list holds %d PAID", got.Paid, paid)
	}
	if paid < 2 {
		t.Errorf("%d PAID invoices after a pay call; Antaeus seeds 2", paid)
	}
}

// reseedIfAllPaid restarts Antaeus when nothing is left PENDING (the curl
// lines' pay call pays all 8 in one run of 256), so the acceptance run has
// charges to judge.
func reseedIfAllPaid(t *testing.T, k *kube, antaeus *appsv1.Deployment, antaeusURL string) {
	t.Helper()
	for _, status := range antaeusInvoices(t, antaeusURL) {
		if status == "PENDING" {
			return
		}
	}
	t.Log("no invoice is PENDING: restarting Antaeus to reseed them")
	k.deletePods(t, antaeus, 30)
	k.waitRolledOut(t, antaeus)
	waitForAntaeus(t, antaeusURL)
}

// TestAMisspeltKeyFailsThePreviewBeforeAnythingIsCreated runs the program
// inline through the real engine on the committed local stack with one key
// misspelt: the preview fails naming the key and its nearest spelling, and
// no resource was planned.
func TestAMisspeltKeyFailsThePreviewBeforeAnythingIsCreated(t *testing.T) {
	s := pulumistack.New(t, pulumistack.QuickStartStack)
	pulumistack.Apply(t, s, pulumistack.Override{Path: "tinjis:highAvailabilty", Value: "true"})
	var out bytes.Buffer

	_, err := s.Preview(t.Context(), optpreview.ProgressStreams(&out))

	const want = "tinjis:highAvailabilty is not a setting of this program: did you mean tinjis:highAvailability?"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("preview: %v\nwant it to fail with %q\n%s", err, want, out.String())
	}
	if strings.Contains(out.String(), "kubernetes:") {
		t.Errorf("the preview planned Kubernetes resources before refusing the config:\n%s", out.String())
	}
}
