package server

import (
	"math/rand/v2"
	"sync"
)

// Decider decides whether a charge is paid. Implementations must be safe for
// concurrent use: the server calls Paid once per charge, from any goroutine.
type Decider interface {
	Paid() bool
}

// RandomDecider pays each charge with a fixed probability.
type RandomDecider struct {
	rate float64

	mu  sync.Mutex
	rng *rand.Rand
}

// NewRandomDecider returns a decider that pays with probability rate. With a
// seed, the sequence of outcomes is the same every time; without one it is
// seeded from the runtime's random source.
func NewRandomDecider(rate float64, seed *int64) *RandomDecider {
	var source rand.Source
	if seed != nil {
		source = rand.NewPCG(uint64(*seed), 0)
	} else {
		source = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	return &RandomDecider{rate: rate, rng: rand.New(source)}
}

// Paid draws the next outcome: true with probability rate.
func (d *RandomDecider) Paid() bool {
	d.mu.Lock()
	draw := d.rng.Float64()
	d.mu.Unlock()
	return draw < d.rate
}
