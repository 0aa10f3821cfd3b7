// Package fakeantaeus is an in-process stand-in for Pleo's Antaeus billing
// service, for tests. It serves Antaeus's REST API and, on
// POST /rest/v1/invoices/pay, charges the PENDING invoices through the
// payment provider exactly as the unmodified Antaeus does (pleo-io/tinjis at
// f7f28dd, with khttp 0.1.0 and org.json 20150729): the same headers and
// body, the same reading of "result", the stop at the first decline, and 500
// with an empty body when a charge throws.
package fakeantaeus

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// What the real Antaeus hard-codes: its port, and where it sends charges
// when EnvProviderEndpoint is unset.
const (
	Port                    = 8000
	EnvProviderEndpoint     = "PAYMENT_PROVIDER_ENDPOINT"
	DefaultProviderEndpoint = "http://localhost:9000"
)

// Invoice statuses.
const (
	StatusPaid    = "PAID"
	StatusPending = "PENDING"
)

// Options configures a fake Antaeus.
type Options struct {
	// ProviderEndpoint is EnvProviderEndpoint: the full URL every charge is
	// POSTed to, verbatim.
	ProviderEndpoint string
	// InvoicesPerCustomer is how many invoices each of the two customers
	// gets; the first of each is PAID, the others PENDING. Zero means 5,
	// Antaeus's own seed: ten invoices, ids 1 and 6 PAID.
	InvoicesPerCustomer int
	// Seed makes the random invoice amounts reproducible.
	Seed uint64
}

// Customer is an element of GET /rest/v1/customers.
type Customer struct {
	ID       int    `json:"id"`
	Currency string `json:"currency"`
}

// Invoice is an element of GET /rest/v1/invoices.
type Invoice struct {
	ID         int    `json:"id"`
	CustomerID int    `json:"customerId"`
	Amount     Money  `json:"amount"`
	Status     string `json:"status"`
}

// Money is an amount in a currency. Value is JSON-encoded as a decimal with
// its trailing zeros stripped, as Antaeus's BigDecimal is.
type Money struct {
	Value    Cents  `json:"value"`
	Currency string `json:"currency"`
}

// Cents is an amount in hundredths, written as a decimal number.
type Cents int64

// MarshalJSON writes 14540 as 145.4 and 5700 as 57.
func (c Cents) MarshalJSON() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalJSON reads a decimal number with at most two decimals.
func (c *Cents) UnmarshalJSON(data []byte) error {
	value, err := strconv.ParseFloat(string(data), 64)
	if err != nil {
		return fmt.Errorf("an amount must be a decimal number: %w", err)
	}
	*c = Cents(math.Round(value * 100))
	return nil
}

func (c Cents) String() string {
	units, hundredths := int64(c)/100, int64(c)%100
	if hundredths == 0 {
		return strconv.FormatInt(units, 10)
	}
	return strings.TrimRight(fmt.Sprintf("%d.%02d", units, hundredths), "0")
}

// Charge is one call to the payment provider and how Antaeus read it.
type Charge struct {
	InvoiceID int
	// Paid is the provider's decision; meaningful only when Err is nil.
	Paid bool
	// Err is why Antaeus could not read an answer: the call threw.
	Err error
}

// Antaeus is the fake. It is an http.Handler; serve it with httptest.
type Antaeus struct {
	endpoint string
	provider *http.Client
	mux      *http.ServeMux

	mu        sync.Mutex
	customers []Customer
	invoices  []Invoice
	charges   []Charge
}

// New seeds a fake Antaeus as the real one seeds its database at start.
func New(opts Options) (*Antaeus, error) {
	endpoint, err := url.Parse(opts.ProviderEndpoint)
	if err != nil || (endpoint.Scheme != "http" && endpoint.Scheme != "https") {
		return nil, fmt.Errorf("the provider endpoint must be an http or https URL, got %q", opts.ProviderEndpoint)
	}
	perCustomer := opts.InvoicesPerCustomer
	if perCustomer == 0 {
		perCustomer = 5
	}
	if perCustomer < 1 {
		return nil, fmt.Errorf("invoices per customer must be positive, got %d", perCustomer)
	}

	a := &Antaeus{
		endpoint: opts.ProviderEndpoint,
		provider: khttpClient(),
		mux:      http.NewServeMux(),
	}
	a.seed(perCustomer, rand.New(rand.NewPCG(opts.Seed, opts.Seed)))
	a.routes()
	return a, nil
}

func (a *Antaeus) seed(perCustomer int, random *rand.Rand) {
	for i, currency := range []string{"USD", "DKK"} {
		customer := Customer{ID: i + 1, Currency: currency}
		a.customers = append(a.customers, customer)
		for j := range perCustomer {
			status := StatusPending
			if j == 0 {
				status = StatusPaid
			}
			a.invoices = append(a.invoices, Invoice{
				ID:         len(a.invoices) + 1,
				CustomerID: customer.ID,
				Amount:     Money{Value: Cents(1000 + random.Int64N(49000)), Currency: currency},
				Status:     status,
			})
		}
	}
}

func (a *Antaeus) routes() {
	a.mux.HandleFunc("GET /rest/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, "ok")
	})
	a.mux.HandleFunc("GET /rest/v1/invoices", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, a.Invoices())
	})
	a.mux.HandleFunc("GET /rest/v1/invoices/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeOne(w, r.PathValue("id"), a.Invoices(), func(i Invoice) int { return i.ID })
	})
	a.mux.HandleFunc("POST /rest/v1/invoices/pay", a.pay)
	a.mux.HandleFunc("GET /rest/v1/customers", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, a.Customers())
	})
	a.mux.HandleFunc("GET /rest/v1/customers/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeOne(w, r.PathValue("id"), a.Customers(), func(c Customer) int { return c.ID })
	})
}

func (a *Antaeus) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Close releases the connections kept open to the payment provider.
func (a *Antaeus) Close() { a.provider.CloseIdleConnections() }

// Invoices returns a copy of the invoices.
func (a *Antaeus) Invoices() []Invoice {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Invoice(nil), a.invoices...)
}

// Customers returns a copy of the customers.
func (a *Antaeus) Customers() []Customer {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Customer(nil), a.customers...)
}

// Charges returns every call made to the payment provider, in order.
func (a *Antaeus) Charges() []Charge {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Charge(nil), a.charges...)
}

func writeOne[T any](w http.ResponseWriter, rawID string, items []T, id func(T) int) {
	want, err := strconv.Atoi(rawID)
	if err == nil {
		for _, item := range items {
			if id(item) == want {
				writeJSON(w, http.StatusOK, item)
				return
			}
		}
	}
	writeJSON(w, http.StatusNotFound, "not found")
}

// pay is BillingService's loop: charge the PENDING invoices one by one, mark
// each paid one PAID at once, stop at the first decline and answer false,
// answer true when none was declined. A charge that throws aborts the request
// with 500 and an empty body; invoices paid before it stay PAID. Like the real
// one it does not serialise concurrent calls, which can charge twice.
func (a *Antaeus) pay(w http.ResponseWriter, r *http.Request) {
	for _, invoice := range a.pending() {
		paid, err := a.charge(r.Context(), invoice)
		a.record(Charge{InvoiceID: invoice.ID, Paid: paid, Err: err})
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if !paid {
			writeJSON(w, http.StatusOK, false)
			return
		}
	}
	writeJSON(w, http.StatusOK, true)
}

func (a *Antaeus) pending() []Invoice {
	var pending []Invoice
	for _, invoice := range a.Invoices() {
		if invoice.Status == StatusPending {
			pending = append(pending, invoice)
		}
	}
	return pending
}

func (a *Antaeus) record(charge Charge) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.charges = append(a.charges, charge)
	if !charge.Paid || charge.Err != nil {
		return
	}
	for i := range a.invoices {
		if a.invoices[i].ID == charge.InvoiceID {
			a.invoices[i].Status = StatusPaid
		}
	}
}

// charge POSTs the stock Antaeus's request and reads the answer as it does.
func (a *Antaeus) charge(ctx context.Context, invoice Invoice) (bool, error) {
	// org.json 20150729 writes the Currency enum as an empty object.
	body := fmt.Sprintf(`{"currency":{},"customer_id":%d,"value":%s}`, invoice.CustomerID, invoice.Amount.Value)
	target := a.endpoint
	for redirects := 0; ; redirects++ {
		resp, err := a.post(ctx, target, body)
		if err != nil {
			return false, err
		}
		next, redirected := redirectTarget(resp)
		if !redirected {
			return readResult(resp)
		}
		resp.Body.Close()
		if redirects == maxRedirects {
			return false, fmt.Errorf("more than %d redirects", maxRedirects)
		}
		target = next
	}
}

// maxRedirects bounds the fake's own redirect loop.
const maxRedirects = 10

func (a *Antaeus) post(ctx context.Context, target, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	req.Header.Set("User-Agent", "khttp/1.0.0-SNAPSHOT")
	req.Header.Set("Connection", "keep-alive")
	return a.provider.Do(req)
}

// redirectTarget follows what khttp follows: 301, 302 and 303 are re-POSTed
// with the same body; 307 and 308 are not followed, their body is read.
func redirectTarget(resp *http.Response) (string, bool) {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther:
		location, err := resp.Location()
		if err != nil {
			return "", false
		}
		return location.String(), true
	}
	return "", false
}

// readResult reads the body whatever the status: a JSON object whose
// "result" is a boolean or the string "true" or "false" (org.json's
// getBoolean, which ignores case). Content after the object is ignored, as
// org.json's tokenizer stops at the closing brace.
func readResult(resp *http.Response) (bool, error) {
	defer resp.Body.Close()
	body, err := decodedBody(resp)
	if err != nil {
		return false, err
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return false, fmt.Errorf("the provider's answer is not a JSON object: %q", body)
	}
	var object map[string]json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(trimmed)).Decode(&object); err != nil {
		return false, fmt.Errorf("the provider's answer is not a JSON object: %w", err)
	}
	raw, ok := object["result"]
	if !ok {
		return false, errors.New(`the provider's answer has no "result"`)
	}
	var value any
	if err := json.Unmarshal(raw, &value); err != nil {
		return false, err
	}
	switch v := value.(type) {
	case bool:
		return v, nil
	case string:
		if strings.EqualFold(v, "true") {
			return true, nil
		}
		if strings.EqualFold(v, "false") {
			return false, nil
		}
	}
	return false, fmt.Errorf(`the provider's "result" is not a boolean: %s`, raw)
}

// decodedBody undoes the Content-Encoding khttp asked for.
func decodedBody(resp *http.Response) ([]byte, error) {
	var reader io.Reader = resp.Body
	switch strings.ToLower(resp.Header.Get("Content-Encoding")) {
	case "gzip":
		gz, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, err
		}
		reader = gz
	case "deflate":
		reader = flate.NewReader(resp.Body)
	}
	return io.ReadAll(reader)
}

// khttpClient has khttp's timeouts (30 s connect, 30 s read) and no redirect
// handling of its own: charge follows them the way khttp does.
func khttpClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
			ResponseHeaderTimeout: 30 * time.Second,
			DisableCompression:    true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func writeJSON(w http.ResponseWriter, status int, value any) {
	body, err := json.Marshal(value)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
