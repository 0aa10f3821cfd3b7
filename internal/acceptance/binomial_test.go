package acceptance_test

import (
	"math"
	"strings"
	"testing"

	"github.com/tinjis/tinjis/internal/acceptance"
)

func TestBinomialTestMatchesKnownValues(t *testing.T) {
	// Reference values: p-values from exact sums of binomial probabilities;
	// Clopper-Pearson bounds found independently by bisection on those sums
	// (5 of 10 is also R's binom.test(5, 10)), or in closed form at the edges.
	tests := []struct {
		name               string
		test               acceptance.BinomialTest
		wantP              float64
		wantLower, wantUpp float64
		wantRejected       bool
		tolerance          float64
	}{
		{"half of the charges paid is the most plausible outcome at 0.5",
			acceptance.BinomialTest{Successes: 8, Trials: 16, Hypothesised: 0.5, Alpha: 0.05}, 1, 0.246510, 0.753490, false, 1e-6},
		{"5 of 10 has the textbook 95% interval",
			acceptance.BinomialTest{Successes: 5, Trials: 10, Hypothesised: 0.5, Alpha: 0.05}, 1, 0.187086, 0.812914, false, 1e-6},
		{"3 of 10 doubles the lower tail of 176/1024",
			acceptance.BinomialTest{Successes: 3, Trials: 10, Hypothesised: 0.5, Alpha: 0.001}, 2 * 176.0 / 1024, 0.016567, 0.816394, false, 1e-6},
		{"none of 20 paid at 0.5 is rejected with p = 2 * 0.5^20",
			acceptance.BinomialTest{Successes: 0, Trials: 20, Hypothesised: 0.5, Alpha: 0.001}, 2 * math.Pow(0.5, 20), 0, 1 - math.Pow(0.0005, 1.0/20), true, 1e-9},
		{"all of 8 paid at 0.5 is not enough evidence at alpha 0.001",
			acceptance.BinomialTest{Successes: 8, Trials: 8, Hypothesised: 0.5, Alpha: 0.001}, 2 * math.Pow(0.5, 8), math.Pow(0.0005, 1.0/8), 1, false, 1e-9},
		{"none paid is certain at rate 0",
			acceptance.BinomialTest{Successes: 0, Trials: 50, Hypothesised: 0, Alpha: 0.001}, 1, 0, 1 - math.Pow(0.0005, 1.0/50), false, 1e-9},
		{"one paid is impossible at rate 0",
			acceptance.BinomialTest{Successes: 1, Trials: 50, Hypothesised: 0, Alpha: 0.001}, 0, 0.0000100025, 0.182936, true, 1e-6},
		{"one declined is impossible at rate 1",
			acceptance.BinomialTest{Successes: 49, Trials: 50, Hypothesised: 1, Alpha: 0.001}, 0, 0.817064, 0.9999899975, true, 1e-6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.test.Run()
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.PValue-tt.wantP) > tt.tolerance*math.Max(1, tt.wantP) {
				t.Errorf("p-value = %g, want %g", got.PValue, tt.wantP)
			}
			if math.Abs(got.Lower-tt.wantLower) > tt.tolerance || math.Abs(got.Upper-tt.wantUpp) > tt.tolerance {
				t.Errorf("interval = %.6f..%.6f, want %.6f..%.6f", got.Lower, got.Upper, tt.wantLower, tt.wantUpp)
			}
			if got.Rejected != tt.wantRejected {
				t.Errorf("rejected = %v, want %v", got.Rejected, tt.wantRejected)
			}
			if want := float64(tt.test.Successes) / float64(tt.test.Trials); got.Estimate != want {
				t.Errorf("estimate = %v, want %v", got.Estimate, want)
			}
		})
	}
}

// The verdict and the printed interval must never disagree: the test rejects
// exactly the rates outside the Clopper-Pearson interval.
func TestBinomialTestRejectsExactlyTheRatesOutsideItsInterval(t *testing.T) {
	for trials := 1; trials <= 40; trials++ {
		for successes := 0; successes <= trials; successes++ {
			for rate := 0.0; rate <= 1; rate += 0.01 {
				got, err := acceptance.BinomialTest{Successes: successes, Trials: trials, Hypothesised: rate, Alpha: 0.001}.Run()
				if err != nil {
					t.Fatal(err)
				}
				outside := rate < got.Lower || rate > got.Upper
				nearEdge := math.Abs(rate-got.Lower) < 1e-6 || math.Abs(rate-got.Upper) < 1e-6
				if outside != got.Rejected && !nearEdge {
					t.Fatalf("%d of %d at rate %.2f: rejected = %v but the interval is %.4f..%.4f",
						successes, trials, rate, got.Rejected, got.Lower, got.Upper)
				}
			}
		}
	}
}

func TestBinomialTestRefusesWhatItCannotJudge(t *testing.T) {
	tests := []struct {
		name string
		test acceptance.BinomialTest
		want string
	}{
		{"zero trials", acceptance.BinomialTest{Trials: 0, Hypothesised: 0.5, Alpha: 0.001}, "at least one trial"},
		{"more successes than trials", acceptance.BinomialTest{Successes: 3, Trials: 2, Hypothesised: 0.5, Alpha: 0.001}, "successes must be between 0 and the 2 trials"},
		{"a rate above 1", acceptance.BinomialTest{Successes: 1, Trials: 2, Hypothesised: 1.1, Alpha: 0.001}, "between 0 and 1"},
		{"a rate that is not a number", acceptance.BinomialTest{Successes: 1, Trials: 2, Hypothesised: math.NaN(), Alpha: 0.001}, "between 0 and 1"},
		{"an alpha of 1", acceptance.BinomialTest{Successes: 1, Trials: 2, Hypothesised: 0.5, Alpha: 1}, "alpha must be strictly between 0 and 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.test.Run(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// binomialProb is P(X = k) for X ~ Binomial(n, p), exact at p = 0 and 1.
func binomialProb(n, k int, p float64) float64 {
	if p == 0 || p == 1 {
		// All the mass sits on k = 0 (never paid) or k = n (always paid).
		if (p == 0 && k == 0) || (p == 1 && k == n) {
			return 1
		}
		return 0
	}
	lnChoose := func(n, k int) float64 {
		a, _ := math.Lgamma(float64(n + 1))
		b, _ := math.Lgamma(float64(k + 1))
		c, _ := math.Lgamma(float64(n - k + 1))
		return a - b - c
	}
	return math.Exp(lnChoose(n, k) + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
}

// rejectionRate is the exact probability that a run rejects the expected
// rate when the provider's true rate is actual, under the run's real
// stopping rule: charges go on until every pending invoice is paid, or
// until maxCalls calls have each ended in a decline.
func rejectionRate(t *testing.T, actual, expected float64, pending, maxCalls int) float64 {
	t.Helper()
	rejects := func(paid, charges int) bool {
		result, err := acceptance.BinomialTest{Successes: paid, Trials: charges, Hypothesised: expected, Alpha: 0.001}.Run()
		if err != nil {
			t.Fatal(err)
		}
		return result.Rejected
	}
	rate, total := 0.0, 0.0
	// Done: the last charge pays the last pending invoice.
	for declined := range maxCalls {
		p := actual * binomialProb(pending-1+declined, pending-1, actual)
		total += p
		if rejects(pending, pending+declined) {
			rate += p
		}
	}
	// Bound hit: the last charge is the maxCalls-th decline.
	for paid := range pending {
		p := (1 - actual) * binomialProb(paid+maxCalls-1, paid, actual)
		total += p
		if rejects(paid, paid+maxCalls) {
			rate += p
		}
	}
	if !(math.Abs(total-1) < 1e-9) {
		t.Fatalf("the outcomes' probabilities add up to %v, not 1", total)
	}
	return rate
}

// The binomial test is exact for a fixed number of charges, but a run stops
// depending on what it sees. Over the real stopping rule (Antaeus's 8
// PENDING invoices, at most 50 calls) the chance of failing a correct
// provider must stay below alpha, and a provider that pays (almost)
// nothing must be caught.
func TestTheVerdictUnderAntaeussStoppingRule(t *testing.T) {
	const pending = 8
	maxCalls := acceptance.DefaultConfig().MaxCalls
	for _, rate := range []float64{0.1, 0.3, 0.5, 0.7, 0.9, 1} {
		got := rejectionRate(t, rate, rate, pending, maxCalls)
		t.Logf("a correct provider at rate %v fails %.5f of runs", rate, got)
		if got > 0.001 {
			t.Errorf("a correct provider at rate %v fails %.5f of runs, more than alpha 0.001", rate, got)
		}
	}
	for _, actual := range []float64{0, 0.05} {
		got := rejectionRate(t, actual, 0.5, pending, maxCalls)
		t.Logf("a provider paying at %v instead of 0.5 is caught in %.4f of runs", actual, got)
		if got < 0.99 {
			t.Errorf("a provider paying at %v instead of 0.5 is caught in %.4f of runs, want at least 0.99", actual, got)
		}
	}
}
