// Package acceptance checks a deployed stack the way a reviewer would: it
// calls Antaeus's POST /rest/v1/invoices/pay until every invoice is PAID (or
// a bound is hit), prints the invoices after each call, and judges whether the
// payment provider's success rate seen through Antaeus is plausible.
//
// Antaeus charges PENDING invoices one by one and stops at the first decline,
// so every call contributes the invoices it turned PAID as successes and, when
// it answered false, exactly one decline. The success rate is estimated as
// paid / (paid + declined) and checked with the exact two-sided binomial test
// (see BinomialTest). The stopping rule depends only on the counts seen so
// far, so the likelihood of the data is the binomial one; the test is applied
// conditionally on the number of charges observed, and its error rate under
// the real stopping rule is computed exactly in the tests.
package acceptance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Config bounds and parameterises one acceptance run.
type Config struct {
	// BaseURL is Antaeus's root, e.g. the stack output antaeusUrl.
	BaseURL *url.URL
	// ExpectedRate is the success rate payments is configured with.
	ExpectedRate float64
	// Alpha is the significance level of the plausibility test.
	Alpha float64
	// MaxCalls bounds the number of POST /rest/v1/invoices/pay calls.
	MaxCalls int
	// HealthTimeout bounds the wait for GET /rest/health to answer 200.
	HealthTimeout time.Duration
	// HealthPoll is the pause between two health checks.
	HealthPoll time.Duration
	// PayTimeout bounds the time spent calling /pay and reading invoices.
	PayTimeout time.Duration
}

// DefaultConfig is a run against a provider paying half of the charges.
// The health wait is long because the stock Antaeus image downloads Gradle
// and its dependencies at start.
func DefaultConfig() Config {
	return Config{
		ExpectedRate:  0.5,
		Alpha:         0.001,
		MaxCalls:      50,
		HealthTimeout: 10 * time.Minute,
		HealthPoll:    2 * time.Second,
		PayTimeout:    5 * time.Minute,
	}
}

// Validate names the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.BaseURL == nil || (c.BaseURL.Scheme != "http" && c.BaseURL.Scheme != "https") || c.BaseURL.Host == "":
		return fmt.Errorf("the Antaeus URL must be an absolute http or https URL, got %q", urlString(c.BaseURL))
	case !(c.ExpectedRate >= 0 && c.ExpectedRate <= 1):
		return fmt.Errorf("the expected success rate must be between 0 and 1, got %v", c.ExpectedRate)
	case !(c.Alpha > 0 && c.Alpha < 0.5):
		return fmt.Errorf("alpha must be greater than 0 and less than 0.5, got %v", c.Alpha)
	case c.MaxCalls < 1:
		return fmt.Errorf("the maximum number of /pay calls must be at least 1, got %d", c.MaxCalls)
	case c.HealthTimeout <= 0 || c.HealthPoll <= 0 || c.PayTimeout <= 0:
		return errors.New("the health timeout, the health poll interval and the pay timeout must all be positive")
	}
	return nil
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// Errors a run can end with, besides transport failures.
var (
	// ErrUnhealthy: /rest/health did not answer 200 in time.
	ErrUnhealthy = errors.New("Antaeus did not become healthy")
	// ErrNoCharges: nothing was charged, so nothing can be estimated.
	ErrNoCharges = errors.New("no invoice was charged, so the success rate cannot be estimated")
	// ErrImplausible: the estimate contradicts the configured rate.
	ErrImplausible = errors.New("the provider's success rate is implausible for the configured rate")
	// ErrInconsistent: the invoices contradict how Antaeus pays them.
	ErrInconsistent = errors.New("Antaeus's invoices changed in a way one /pay call cannot explain")
)

// Call is what one POST /rest/v1/invoices/pay did.
type Call struct {
	Number    int
	Answer    bool // true: every PENDING invoice was paid; false: stopped at a decline
	NewlyPaid int
	Paid      int // invoices PAID after the call
	Pending   int // invoices PENDING after the call
}

// Result is the evidence and verdict of a run.
type Result struct {
	Calls    []Call
	Invoices []Invoice // as read after the last call
	Paid     int       // successful charges seen
	Declined int       // declined charges seen
	Test     BinomialResult
}

// Charges is the number of charges the estimate rests on.
func (r Result) Charges() int { return r.Paid + r.Declined }

// Run waits for Antaeus, pays its invoices and judges the success rate,
// writing its progress to out. The error says why the run failed; a run that
// completed its calls returns its Result in either case.
func Run(ctx context.Context, cfg Config, client *http.Client, out io.Writer) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	antaeus := antaeusClient{http: client, base: cfg.BaseURL}

	if err := waitHealthy(ctx, antaeus, cfg, out); err != nil {
		return Result{}, err
	}

	result, err := payUntilDone(ctx, antaeus, cfg, out)
	if err != nil {
		return result, err
	}
	printInvoices(out, result.Invoices)
	return result, judge(&result, cfg, out)
}

// healthCheckTimeout bounds one GET /rest/health, so that a request hanging
// on a half-started pod does not use up the whole wait.
const healthCheckTimeout = 10 * time.Second

func waitHealthy(ctx context.Context, antaeus antaeusClient, cfg Config, out io.Writer) error {
	fmt.Fprintf(out, "Waiting up to %s for %s to answer 200 on /rest/health...\n", cfg.HealthTimeout, cfg.BaseURL)
	start := time.Now()
	waitCtx, cancel := context.WithTimeout(ctx, cfg.HealthTimeout)
	defer cancel()
	var lastErr error
	for {
		attemptCtx, cancelAttempt := context.WithTimeout(waitCtx, healthCheckTimeout)
		err := antaeus.health(attemptCtx)
		cancelAttempt()
		if err == nil {
			fmt.Fprintf(out, "Antaeus is healthy (after %s).\n\n", time.Since(start).Round(time.Millisecond))
			return nil
		}
		// An attempt cut short by the end of the wait says less than the one before.
		if lastErr == nil || waitCtx.Err() == nil {
			lastErr = err
		}
		select {
		case <-waitCtx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: %s did not answer 200 on /rest/health within %s; last attempt: %v",
				ErrUnhealthy, cfg.BaseURL, cfg.HealthTimeout, lastErr)
		case <-time.After(cfg.HealthPoll):
		}
	}
}

func payUntilDone(ctx context.Context, antaeus antaeusClient, cfg Config, out io.Writer) (Result, error) {
	payCtx, cancel := context.WithTimeout(ctx, cfg.PayTimeout)
	defer cancel()
	wrapTimeout := func(err error, what string) error {
		if ctx.Err() == nil && errors.Is(payCtx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%s did not finish within the pay timeout of %s: %w", what, cfg.PayTimeout, err)
		}
		return err
	}

	before, err := antaeus.invoices(payCtx)
	if err != nil {
		return Result{}, wrapTimeout(err, "reading the invoices")
	}
	table := newProgressTable(out)
	table.start(before)

	result := Result{Invoices: before}
	for number := 1; number <= cfg.MaxCalls && count(before, StatusPending) > 0; number++ {
		answer, err := antaeus.pay(payCtx)
		if err != nil {
			return result, fmt.Errorf("call %d: %w", number, wrapTimeout(err, fmt.Sprintf("call %d", number)))
		}
		after, err := antaeus.invoices(payCtx)
		if err != nil {
			return result, fmt.Errorf("after call %d: %w", number, wrapTimeout(err, "reading the invoices"))
		}
		newlyPaid, err := explainCall(before, after, answer)
		if err != nil {
			return result, fmt.Errorf("call %d: %w", number, err)
		}

		call := Call{
			Number:    number,
			Answer:    answer,
			NewlyPaid: newlyPaid,
			Paid:      count(after, StatusPaid),
			Pending:   count(after, StatusPending),
		}
		result.Calls = append(result.Calls, call)
		result.Invoices = after
		result.Paid += newlyPaid
		if !answer {
			result.Declined++
		}
		table.row(call, result, after)
		before = after
	}

	if pending := count(before, StatusPending); pending > 0 && len(result.Calls) == cfg.MaxCalls {
		fmt.Fprintf(out, "\nStopped at the bound of %d calls with %d invoices still PENDING.\n", cfg.MaxCalls, pending)
	}
	return result, nil
}

// explainCall returns how many invoices one call turned PAID, and refuses
// changes that Antaeus's /pay cannot make: it only turns PENDING invoices
// PAID, never touches amounts, and stops only at a decline, which leaves the
// declined invoice PENDING.
func explainCall(before, after []Invoice, answer bool) (int, error) {
	if len(after) != len(before) {
		return 0, fmt.Errorf("%w: Antaeus had %d invoices and now has %d (it reseeds its database at every restart: did the pod restart?)",
			ErrInconsistent, len(before), len(after))
	}
	afterByID := make(map[int]Invoice, len(after))
	for _, invoice := range after {
		afterByID[invoice.ID] = invoice
	}
	newlyPaid := 0
	for _, was := range before {
		now, ok := afterByID[was.ID]
		switch {
		case !ok || now.Amount != was.Amount || now.CustomerID != was.CustomerID:
			return 0, fmt.Errorf("%w: invoice %d is gone or has changed (it reseeds its database at every restart: did the pod restart?)",
				ErrInconsistent, was.ID)
		case was.Status == StatusPaid && now.Status != StatusPaid:
			return 0, fmt.Errorf("%w: invoice %d went from PAID to %s (did the pod restart?)", ErrInconsistent, was.ID, now.Status)
		case was.Status == StatusPending && now.Status == StatusPaid:
			newlyPaid++
		}
	}
	pendingBefore := count(before, StatusPending)
	switch {
	case answer && count(after, StatusPending) > 0:
		return 0, fmt.Errorf("%w: Antaeus answered true yet %d invoices are still PENDING (is another client calling /pay at the same time?)",
			ErrInconsistent, count(after, StatusPending))
	case !answer && newlyPaid == pendingBefore:
		return 0, fmt.Errorf("%w: Antaeus answered false yet no invoice is left PENDING (is another client calling /pay at the same time?)",
			ErrInconsistent)
	}
	return newlyPaid, nil
}

func judge(result *Result, cfg Config, out io.Writer) error {
	if result.Charges() == 0 {
		return fmt.Errorf("%w: Antaeus had no PENDING invoice (it keeps PAID invoices until it restarts; restart it to reseed them)", ErrNoCharges)
	}
	test, err := BinomialTest{
		Successes:    result.Paid,
		Trials:       result.Charges(),
		Hypothesised: cfg.ExpectedRate,
		Alpha:        cfg.Alpha,
	}.Run()
	if err != nil {
		return err
	}
	result.Test = test

	fmt.Fprintf(out, "\nSuccess rate: %d paid of %d charges = %.2f (%s%% exact Clopper-Pearson interval %.2f..%.2f).\n",
		result.Paid, result.Charges(), test.Estimate, confidencePercent(cfg.Alpha), test.Lower, test.Upper)
	fmt.Fprintf(out, "Exact two-sided binomial test against the configured rate %v: p = %.3g, alpha = %v.\n",
		cfg.ExpectedRate, test.PValue, cfg.Alpha)
	if test.Rejected {
		return fmt.Errorf("%w: %d paid of %d charges (%.2f) against a configured rate of %v, p = %.3g < alpha %v",
			ErrImplausible, result.Paid, result.Charges(), test.Estimate, cfg.ExpectedRate, test.PValue, cfg.Alpha)
	}
	return nil
}

func confidencePercent(alpha float64) string {
	return fmt.Sprintf("%g", 100*(1-alpha))
}

func count(invoices []Invoice, status string) int {
	n := 0
	for _, invoice := range invoices {
		if invoice.Status == status {
			n++
		}
	}
	return n
}
