package server

import (
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/tinjis/tinjis/payments/settings"
)

func TestASeedMakesTheOutcomeSequenceReproducible(t *testing.T) {
	const charges = 500
	first := outcomes(t, newServer(t, seeded(testConfig(), 42), Deps{}).Handler(), charges)
	second := outcomes(t, newServer(t, seeded(testConfig(), 42), Deps{}).Handler(), charges)
	other := outcomes(t, newServer(t, seeded(testConfig(), 43), Deps{}).Handler(), charges)

	if !slices.Equal(first, second) {
		t.Errorf("two servers seeded 42 answered different sequences")
	}
	if slices.Equal(first, other) {
		t.Errorf("servers seeded 42 and 43 answered the same %d outcomes", charges)
	}
}

func TestThePaidFractionFollowsTheSuccessRate(t *testing.T) {
	const charges = 10_000
	tests := []struct {
		name     string
		cfg      settings.Config
		min, max float64
	}{
		{"the default rate pays about half", testConfig(), 0.47, 0.53},
		{"a seeded default rate pays about half", seeded(testConfig(), 7), 0.47, 0.53},
		{"rate 0 declines every charge", withRate(testConfig(), 0), 0, 0},
		{"rate 1 pays every charge", withRate(testConfig(), 1), 1, 1},
		{"rate 0.2 pays about a fifth", withRate(testConfig(), 0.2), 0.18, 0.22},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newServer(t, tt.cfg, Deps{}).Handler()
			paid := 0
			for _, result := range outcomes(t, h, charges) {
				if result {
					paid++
				}
			}
			if fraction := float64(paid) / charges; fraction < tt.min || fraction > tt.max {
				t.Errorf("paid %d of %d (%.4f), want a fraction in [%v, %v]", paid, charges, fraction, tt.min, tt.max)
			}
		})
	}
}

// Concurrent charges must each draw one outcome from the seeded sequence: the
// number paid equals that of the same number of charges made one by one.
func TestConcurrentChargesEachDrawOneOutcome(t *testing.T) {
	const workers, perWorker = 8, 250
	sequential := outcomes(t, newServer(t, seeded(testConfig(), 9), Deps{}).Handler(), workers*perWorker)
	wantPaid := 0
	for _, result := range sequential {
		if result {
			wantPaid++
		}
	}

	h := newServer(t, seeded(testConfig(), 9), Deps{}).Handler()
	answers := make([][]*httptest.ResponseRecorder, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range perWorker {
				answers[w] = append(answers[w], serve(h, stockRequest("/", stockBody)))
			}
		})
	}
	wg.Wait()

	paid := 0
	for _, recs := range answers {
		for _, rec := range recs {
			if resultOf(t, rec.Body.Bytes()) {
				paid++
			}
		}
	}
	if paid != wantPaid {
		t.Errorf("concurrent charges paid %d, one-by-one charges with the same seed paid %d", paid, wantPaid)
	}
}
