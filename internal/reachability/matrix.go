package reachability

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Verdict is what the policies decide for every connection from a source
// to a destination.
type Verdict int

const (
	// Denied: no pod of the source may connect to the destination.
	Denied Verdict = iota
	// Allowed: every pod of the source may connect to every destination pod.
	Allowed
	// Mixed: some pod pairs may connect and others may not, so the pods of
	// one workload are treated differently (labels drifted apart).
	Mixed
	// Self: the source and the destination are the same pods; a pod may
	// always reach itself, so nothing is evaluated.
	Self
)

func (v Verdict) String() string {
	switch v {
	case Denied:
		return "denied"
	case Allowed:
		return "ALLOWED"
	case Mixed:
		return "MIXED"
	case Self:
		return "-"
	default:
		return fmt.Sprintf("Verdict(%d)", int(v))
	}
}

// Pair names one cell of a matrix: a source's and a destination's names.
type Pair struct {
	Source, Destination string
}

func (p Pair) String() string { return p.Source + " -> " + p.Destination }

// Matrix holds a verdict for every source and destination.
type Matrix struct {
	Sources      []string
	Destinations []string
	verdicts     map[Pair]Verdict
	// Warnings are what the engine noticed in the policies, such as a rule
	// naming a port no selected pod has.
	Warnings []string
}

func newMatrix(sources []Source, destinations []Destination) Matrix {
	m := Matrix{verdicts: map[Pair]Verdict{}}
	for _, s := range sources {
		m.Sources = append(m.Sources, s.Name)
	}
	for _, d := range destinations {
		m.Destinations = append(m.Destinations, d.Name)
	}
	return m
}

// Expect is the matrix in which exactly the allowed pairs are Allowed; a
// source and a destination that select the same pods are Self, as
// Evaluate has them; everything else is Denied. Each pair must name a
// source and a destination.
func Expect(sources []Source, destinations []Destination, allowed ...Pair) (Matrix, error) {
	m := newMatrix(sources, destinations)
	for _, s := range sources {
		for _, d := range destinations {
			if !d.outsideCluster() && s.Pods.equal(d.Pods) {
				m.verdicts[Pair{s.Name, d.Name}] = Self
			}
		}
	}
	for _, p := range allowed {
		if !slices.Contains(m.Sources, p.Source) || !slices.Contains(m.Destinations, p.Destination) {
			return Matrix{}, fmt.Errorf("expected pair %s names no source or destination of the matrix", p)
		}
		m.verdicts[p] = Allowed
	}
	return m, nil
}

// Verdict is the verdict from source to destination; Denied for names
// the matrix does not hold.
func (m Matrix) Verdict(source, destination string) Verdict {
	return m.verdicts[Pair{source, destination}]
}

// Difference is a cell in which two matrices disagree.
type Difference struct {
	Pair
	Got, Want Verdict
}

func (d Difference) String() string {
	return fmt.Sprintf("%s: %s, want %s", d.Pair, d.Got, d.Want)
}

// Diff lists the cells, over both matrices' sources and destinations, in
// which m differs from want, row by row.
func (m Matrix) Diff(want Matrix) []Difference {
	var diffs []Difference
	for _, s := range union(m.Sources, want.Sources) {
		for _, d := range union(m.Destinations, want.Destinations) {
			got, wanted := m.Verdict(s, d), want.Verdict(s, d)
			if got != wanted {
				diffs = append(diffs, Difference{Pair{s, d}, got, wanted})
			}
		}
	}
	return diffs
}

func union(a, b []string) []string {
	all := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(all, s) {
			all = append(all, s)
		}
	}
	return all
}

// WriteTable writes the matrix as a table: a row per source, a column per
// destination.
func (m Matrix) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FROM \\ TO\t"+strings.Join(m.Destinations, "\t"))
	for _, s := range m.Sources {
		row := []string{s}
		for _, d := range m.Destinations {
			row = append(row, m.Verdict(s, d).String())
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func (m Matrix) String() string {
	var b strings.Builder
	_ = m.WriteTable(&b)
	return b.String()
}
