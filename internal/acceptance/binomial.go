package acceptance

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// BinomialTest is the exact two-sided binomial test of "successes out of
// trials" against a hypothesised success probability, with the matching
// Clopper-Pearson confidence interval.
//
// The p-value is twice the smaller tail, capped at 1 (the "central" exact
// test). It rejects at level alpha exactly when the hypothesised probability
// lies outside the Clopper-Pearson interval of confidence 1-alpha, so the
// verdict and the printed interval never disagree.
type BinomialTest struct {
	Successes    int
	Trials       int
	Hypothesised float64
	Alpha        float64
}

// BinomialResult is the outcome of a BinomialTest.
type BinomialResult struct {
	Estimate float64 // Successes / Trials
	PValue   float64
	Lower    float64 // Clopper-Pearson bounds at confidence 1-Alpha
	Upper    float64
	Rejected bool // PValue < Alpha: the data contradict the hypothesis
}

// Run computes the test. It refuses zero trials: nothing can be said then.
func (t BinomialTest) Run() (BinomialResult, error) {
	switch {
	case t.Trials <= 0:
		return BinomialResult{}, fmt.Errorf("a binomial test needs at least one trial, got %d", t.Trials)
	case t.Successes < 0 || t.Successes > t.Trials:
		return BinomialResult{}, fmt.Errorf("successes must be between 0 and the %d trials, got %d", t.Trials, t.Successes)
	case !(t.Hypothesised >= 0 && t.Hypothesised <= 1):
		return BinomialResult{}, fmt.Errorf("the hypothesised probability must be between 0 and 1, got %v", t.Hypothesised)
	case !(t.Alpha > 0 && t.Alpha < 1):
		return BinomialResult{}, fmt.Errorf("alpha must be strictly between 0 and 1, got %v", t.Alpha)
	}

	k, n := float64(t.Successes), float64(t.Trials)
	dist := distuv.Binomial{N: n, P: t.Hypothesised}
	atMost := dist.CDF(k)           // P(X <= k)
	atLeast := dist.Survival(k - 1) // P(X >= k), without the cancellation of 1-CDF
	pValue := math.Min(1, 2*math.Min(atMost, atLeast))

	lower, upper := 0.0, 1.0
	if t.Successes > 0 {
		lower = distuv.Beta{Alpha: k, Beta: n - k + 1}.Quantile(t.Alpha / 2)
	}
	if t.Successes < t.Trials {
		upper = distuv.Beta{Alpha: k + 1, Beta: n - k}.Quantile(1 - t.Alpha/2)
	}

	return BinomialResult{
		Estimate: k / n,
		PValue:   pValue,
		Lower:    lower,
		Upper:    upper,
		Rejected: pValue < t.Alpha,
	}, nil
}
