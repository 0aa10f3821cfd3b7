package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	pulumiconfig "github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"

	"github.com/tinjis/tinjis/infra/config"
	"github.com/tinjis/tinjis/integration/internal/pulumistack"
)

// teamSizeEnv turns on TestTheTeamSizeDoesNotSlowTheStack: it takes
// about two minutes, too long for every `make test`.
const teamSizeEnv = "TINJIS_TEAM_SIZE_TIMING"

// TestTheTeamSizeDoesNotSlowTheStack times preview and render `up` of dev,
// through the real engine and provider, with 2, 100 and 500 developers,
// three times each, and requires the median with 500 within 1.5x of the
// median with 2: the stack's resources do not grow with the team.
func TestTheTeamSizeDoesNotSlowTheStack(t *testing.T) {
	if os.Getenv(teamSizeEnv) == "" {
		t.Skipf("set %s=1 to time preview and render with 2, 100 and 500 developers", teamSizeEnv)
	}
	const runs = 3
	sizes := []int{2, 100, 500}
	type timing struct{ preview, up, resources []int64 }
	timings := map[int]*timing{}
	for _, size := range sizes {
		timings[size] = &timing{}
	}
	// Sizes take turns, so a load on the machine weighs on all alike.
	for range runs {
		for _, size := range sizes {
			preview, up, resources := timeRender(t, size)
			timings[size].preview = append(timings[size].preview, preview.Milliseconds())
			timings[size].up = append(timings[size].up, up.Milliseconds())
			timings[size].resources = append(timings[size].resources, int64(resources))
		}
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "developers\tresources\tpreview (median of %d)\tvs %d\trender up (median of %d)\tvs %d\t\n", runs, sizes[0], runs, sizes[0])
	base := timings[sizes[0]]
	for _, size := range sizes {
		tm := timings[size]
		fmt.Fprintf(w, "%d\t%d\t%d ms\t%.2fx\t%d ms\t%.2fx\t\n", size, median(tm.resources),
			median(tm.preview), float64(median(tm.preview))/float64(median(base.preview)),
			median(tm.up), float64(median(tm.up))/float64(median(base.up)))
	}
	w.Flush()
	t.Logf("dev stack, real engine and provider, rendering to YAML:\n%s", b.String())

	largest, smallest := timings[sizes[len(sizes)-1]], timings[sizes[0]]
	for _, c := range []struct {
		what          string
		large, small  []int64
		maxMultiplier float64
	}{
		{"preview", largest.preview, smallest.preview, 1.5},
		{"render up", largest.up, smallest.up, 1.5},
	} {
		if float64(median(c.large)) > c.maxMultiplier*float64(median(c.small)) {
			t.Errorf("%s with %d developers takes %d ms, more than %.1fx the %d ms with %d", c.what, sizes[len(sizes)-1], median(c.large), c.maxMultiplier, median(c.small), sizes[0])
		}
	}
}

// timeRender renders dev from scratch with a team of the given size (as
// `make render` does) and returns how long the preview and the up took,
// and how many objects the stack holds.
func timeRender(t *testing.T, size int) (preview, up time.Duration, resources int) {
	t.Helper()
	s := pulumistack.New(t, "dev")
	pulumistack.Apply(t, s,
		pulumistack.Override{Path: config.KeyKubernetes + ".context"},
		pulumistack.Override{Path: config.KeyKubernetes + ".kubeconfig"},
		pulumistack.Override{Path: config.KeyKubernetes + ".renderYamlToDirectory", Value: t.TempDir()},
	)
	setDevelopers(t, s.Workspace(), "dev", teamOf(size))

	var out bytes.Buffer
	started := time.Now()
	if _, err := s.Preview(t.Context(), optpreview.ProgressStreams(&out)); err != nil {
		t.Fatalf("preview with %d developers: %v\n%s", size, err, out.String())
	}
	preview = time.Since(started)
	started = time.Now()
	if _, err := s.Up(t.Context(), optup.ProgressStreams(&out)); err != nil {
		t.Fatalf("render up with %d developers: %v\n%s", size, err, out.String())
	}
	up = time.Since(started)
	objects, err := pulumistack.Objects(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	return preview, up, len(objects)
}

// setDevelopers replaces tinjis:developers in the workspace's stack file,
// in one write rather than one CLI call per developer.
func setDevelopers(t *testing.T, ws auto.Workspace, stackName string, team []config.Developer) {
	t.Helper()
	settings, err := ws.StackSettings(t.Context(), stackName)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(team)
	if err != nil {
		t.Fatal(err)
	}
	settings.Config[pulumiconfig.MustParseKey(config.KeyDevelopers)] = pulumiconfig.NewObjectValue(string(raw))
	if err := ws.SaveStackSettings(t.Context(), stackName, settings); err != nil {
		t.Fatal(err)
	}
}

// teamOf is a team of n developers, each allowed one service in turn.
func teamOf(n int) []config.Developer {
	team := make([]config.Developer, n)
	for i := range team {
		team[i] = config.Developer{
			Name:     fmt.Sprintf("dev%03d@tinjis.example.com", i),
			Services: []config.Service{config.Services[i%len(config.Services)]},
		}
	}
	return team
}

func median(values []int64) int64 {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
}
