package acceptance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Invoice statuses as Antaeus spells them.
const (
	StatusPaid    = "PAID"
	StatusPending = "PENDING"
)

// Invoice is one element of Antaeus's GET /rest/v1/invoices.
type Invoice struct {
	ID         int    `json:"id"`
	CustomerID int    `json:"customerId"`
	Amount     Money  `json:"amount"`
	Status     string `json:"status"`
}

// Money is an invoice amount; Value keeps Antaeus's decimal as sent.
type Money struct {
	Value    json.Number `json:"value"`
	Currency string      `json:"currency"`
}

// ErrProviderContract is wrapped by the error of a /pay call that Antaeus
// answered with 500: with the stock Antaeus that means a charge threw, which
// happens when the payment provider's answer is not a JSON object with a
// boolean "result" (or the provider could not be reached at all).
var ErrProviderContract = errors.New("Antaeus answered 500: a charge failed inside Antaeus, " +
	"which means the payment provider answered something other than a JSON object " +
	`with a boolean "result", or could not be reached`)

// antaeusClient speaks Antaeus's REST API.
type antaeusClient struct {
	http *http.Client
	base *url.URL
}

func (c antaeusClient) endpoint(path string) string {
	return c.base.JoinPath(path).String()
}

// health answers nil when GET /rest/health answers 200.
func (c antaeusClient) health(ctx context.Context) error {
	resp, body, err := c.do(ctx, http.MethodGet, "/rest/health")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /rest/health answered %s: %s", resp.Status, preview(body))
	}
	return nil
}

func (c antaeusClient) invoices(ctx context.Context) ([]Invoice, error) {
	resp, body, err := c.do(ctx, http.MethodGet, "/rest/v1/invoices")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /rest/v1/invoices answered %s: %s", resp.Status, preview(body))
	}
	var invoices []Invoice
	if err := json.Unmarshal(body, &invoices); err != nil {
		return nil, fmt.Errorf("GET /rest/v1/invoices answered a body that is not a list of invoices (%v): %s", err, preview(body))
	}
	return invoices, nil
}

// pay calls POST /rest/v1/invoices/pay and returns Antaeus's boolean answer:
// true when every PENDING invoice was charged successfully, false when it
// stopped at a declined charge.
func (c antaeusClient) pay(ctx context.Context) (bool, error) {
	resp, body, err := c.do(ctx, http.MethodPost, "/rest/v1/invoices/pay")
	if err != nil {
		return false, err
	}
	switch {
	case resp.StatusCode == http.StatusInternalServerError:
		return false, ErrProviderContract
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Errorf("POST /rest/v1/invoices/pay answered %s: %s", resp.Status, preview(body))
	}
	var paid bool
	if err := json.Unmarshal(body, &paid); err != nil {
		return false, fmt.Errorf("POST /rest/v1/invoices/pay answered %s, expected true or false", preview(body))
	}
	return paid, nil
}

func (c antaeusClient) do(ctx context.Context, method, path string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(path), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return resp, body, nil
}

// maxBody bounds what is read of any answer: ten invoices are under 1 KiB.
const maxBody = 4 << 20

// preview shortens a body for an error message.
func preview(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "(empty body)"
	}
	const limit = 120
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
