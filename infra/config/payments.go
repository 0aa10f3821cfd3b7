package config

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/tinjis/tinjis/payments/settings"
)

// serverFields pairs each field of tinjis:payments that sets the payment
// provider with the server's variable for it.
var serverFields = []struct {
	field, variable string
	// text is the field as the server reads its variable; "" when the stack
	// leaves the field out.
	text func(Payments) string
}{
	{"drain", settings.EnvDrain, func(p Payments) string { return p.Drain }},
	{"successRate", settings.EnvSuccessRate, func(p Payments) string {
		if p.SuccessRate == nil {
			return ""
		}
		return strconv.FormatFloat(*p.SuccessRate, 'f', -1, 64)
	}},
	{"logLevel", settings.EnvLogLevel, func(p Payments) string { return p.LogLevel }},
	{"seed", settings.EnvSeed, func(p Payments) string {
		if p.Seed == nil {
			return ""
		}
		return strconv.FormatInt(*p.Seed, 10)
	}},
	{"authToken", settings.EnvAuthToken, func(p Payments) string { return p.AuthToken }},
}

// serverConfig reads the stack's payments fields as the server reads its
// environment, so the stack is refused exactly where the server would
// refuse to start, with the server's sentence naming the stack's key.
func (p Payments) serverConfig() (settings.Config, error) {
	text := map[string]string{}
	keys := map[string]string{}
	for _, f := range serverFields {
		text[f.variable] = f.text(p)
		keys[f.variable] = fmt.Sprintf("%s.%s", KeyPayments, f.field)
	}
	cfg, err := settings.FromEnv(func(variable string) string { return text[variable] })
	var problems settings.Problems
	if !errors.As(err, &problems) {
		return cfg, err
	}
	errs := make([]error, len(problems))
	for i, problem := range problems {
		errs[i] = errors.New(problem.Sentence(keys[problem.Setting]))
	}
	return cfg, errors.Join(errs...)
}
