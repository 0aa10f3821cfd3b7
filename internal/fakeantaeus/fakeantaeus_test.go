package fakeantaeus_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/tinjis/tinjis/internal/fakeantaeus"
)

// provider is a payment provider for the fake to call: it records every
// request and answers with the next of its scripted answers.
type provider struct {
	mu       sync.Mutex
	requests []recordedRequest
	answers  []http.HandlerFunc
}

type recordedRequest struct {
	method, path string
	header       http.Header
	body         string
}

func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	n := len(p.requests)
	p.requests = append(p.requests, recordedRequest{r.Method, r.URL.Path, r.Header.Clone(), string(body)})
	answer := p.answers[min(n, len(p.answers)-1)]
	p.mu.Unlock()
	answer(w, r)
}

func answerWith(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

var (
	paid     = answerWith(http.StatusOK, "application/json", `{"result":true}`)
	declined = answerWith(http.StatusOK, "application/json", `{"result":false}`)
)

// startAntaeus serves a fake Antaeus whose provider endpoint is path on a
// test server answering with answers in turn (the last one repeats).
func startAntaeus(t *testing.T, path string, answers ...http.HandlerFunc) (*httptest.Server, *fakeantaeus.Antaeus, *provider) {
	t.Helper()
	p := &provider{answers: answers}
	providerServer := httptest.NewServer(p)
	t.Cleanup(providerServer.Close)
	antaeus, err := fakeantaeus.New(fakeantaeus.Options{ProviderEndpoint: providerServer.URL + path, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(antaeus.Close)
	server := httptest.NewServer(antaeus)
	t.Cleanup(server.Close)
	return server, antaeus, p
}

func call(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func statuses(invoices []fakeantaeus.Invoice) string {
	var s []byte
	for _, invoice := range invoices {
		if invoice.Status == fakeantaeus.StatusPaid {
			s = append(s, 'P')
		} else {
			s = append(s, '.')
		}
	}
	return string(s)
}

func TestSeedIsAntaeussTwoCustomersAndTenInvoices(t *testing.T) {
	server, antaeus, _ := startAntaeus(t, "/", paid)

	status, body := call(t, http.MethodGet, server.URL+"/rest/v1/customers")
	if status != http.StatusOK || body != `[{"id":1,"currency":"USD"},{"id":2,"currency":"DKK"}]` {
		t.Errorf("GET /rest/v1/customers = %d %s", status, body)
	}

	invoices := antaeus.Invoices()
	if got := statuses(invoices); got != "P....P...." {
		t.Errorf("statuses by id = %s, want ids 1 and 6 PAID", got)
	}
	for i, invoice := range invoices {
		wantCustomer, wantCurrency := 1+i/5, []string{"USD", "DKK"}[i/5]
		if invoice.ID != i+1 || invoice.CustomerID != wantCustomer || invoice.Amount.Currency != wantCurrency {
			t.Errorf("invoice %d = %+v, want id %d of customer %d in %s", i, invoice, i+1, wantCustomer, wantCurrency)
		}
		if invoice.Amount.Value < 1000 || invoice.Amount.Value >= 50000 {
			t.Errorf("invoice %d amount %s is outside 10..500", invoice.ID, invoice.Amount.Value)
		}
	}

	status, body = call(t, http.MethodGet, server.URL+"/rest/v1/invoices")
	var listed []fakeantaeus.Invoice
	if err := json.Unmarshal([]byte(body), &listed); status != http.StatusOK || err != nil {
		t.Fatalf("GET /rest/v1/invoices = %d %s (%v)", status, body, err)
	}
	if !slices.Equal(listed, invoices) {
		t.Errorf("GET /rest/v1/invoices = %+v, want %+v", listed, invoices)
	}
	if !regexp.MustCompile(`^\[\{"id":1,"customerId":1,"amount":\{"value":[0-9]+(\.[0-9]*[1-9])?,"currency":"USD"\},"status":"PAID"\},`).MatchString(body) {
		t.Errorf("GET /rest/v1/invoices body does not have Antaeus's shape: %s", body)
	}
}

func TestReadEndpointsAnswerLikeAntaeus(t *testing.T) {
	server, antaeus, _ := startAntaeus(t, "/", paid)
	third, _ := json.Marshal(antaeus.Invoices()[2])

	tests := []struct {
		name, path string
		wantStatus int
		wantBody   string
	}{
		{"health answers the JSON string ok", "/rest/health", 200, `"ok"`},
		{"an invoice is found by id", "/rest/v1/invoices/3", 200, string(third)},
		{"an unknown invoice is not found", "/rest/v1/invoices/11", 404, `"not found"`},
		{"a customer is found by id", "/rest/v1/customers/2", 200, `{"id":2,"currency":"DKK"}`},
		{"an unknown customer is not found", "/rest/v1/customers/3", 404, `"not found"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, http.MethodGet, server.URL+tt.path)
			if status != tt.wantStatus || body != tt.wantBody {
				t.Errorf("GET %s = %d %s, want %d %s", tt.path, status, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestPaySendsTheStockRequestToTheEndpointVerbatim(t *testing.T) {
	for _, path := range []string{"/", "/v1/charges"} {
		t.Run("endpoint path "+path, func(t *testing.T) {
			server, antaeus, p := startAntaeus(t, path, paid)
			if status, body := call(t, http.MethodPost, server.URL+"/rest/v1/invoices/pay"); status != 200 || body != "true" {
				t.Fatalf("POST /pay = %d %s, want 200 true", status, body)
			}

			var pending []fakeantaeus.Invoice
			for _, invoice := range antaeus.Invoices() {
				if invoice.ID != 1 && invoice.ID != 6 {
					pending = append(pending, invoice)
				}
			}
			if len(p.requests) != len(pending) {
				t.Fatalf("the provider got %d requests, want one per PENDING invoice (%d)", len(p.requests), len(pending))
			}
			for i, req := range p.requests {
				invoice := pending[i]
				wantBody := fmt.Sprintf(`{"currency":{},"customer_id":%d,"value":%s}`, invoice.CustomerID, invoice.Amount.Value)
				if req.method != http.MethodPost || req.path != path || req.body != wantBody {
					t.Errorf("request %d = %s %s %s, want POST %s %s", i, req.method, req.path, req.body, path, wantBody)
				}
				wantHeader := map[string]string{
					"Content-Type":    "application/json",
					"Accept":          "*/*",
					"Accept-Encoding": "gzip, deflate",
					"User-Agent":      "khttp/1.0.0-SNAPSHOT",
					"Connection":      "keep-alive",
					"Content-Length":  fmt.Sprint(len(wantBody)),
				}
				for name, want := range wantHeader {
					if got := req.header.Values(name); len(got) != 1 || got[0] != want {
						t.Errorf("request %d header %s = %q, want %q", i, name, got, want)
					}
				}
				if got := req.header.Get("Authorization"); got != "" {
					t.Errorf("request %d has an Authorization header %q; Antaeus sends none", i, got)
				}
			}
		})
	}
}

func TestCentsAreWrittenWithoutTrailingZeros(t *testing.T) {
	tests := map[fakeantaeus.Cents]string{35672: "356.72", 14540: "145.4", 5700: "57", 1001: "10.01", 49999: "499.99"}
	for cents, want := range tests {
		if got := cents.String(); got != want {
			t.Errorf("Cents(%d) = %s, want %s", int64(cents), got, want)
		}
	}
}

func TestPayStopsAtTheFirstDecline(t *testing.T) {
	server, antaeus, p := startAntaeus(t, "/", paid, paid, declined, paid)

	if status, body := call(t, http.MethodPost, server.URL+"/rest/v1/invoices/pay"); status != 200 || body != "false" {
		t.Fatalf("first POST /pay = %d %s, want 200 false", status, body)
	}
	if got := statuses(antaeus.Invoices()); got != "PPP..P...." {
		t.Errorf("after a decline on invoice 4 the statuses are %s, want PPP..P....", got)
	}
	if len(p.requests) != 3 {
		t.Errorf("the provider got %d charges, want 3: none after the decline", len(p.requests))
	}

	if status, body := call(t, http.MethodPost, server.URL+"/rest/v1/invoices/pay"); status != 200 || body != "true" {
		t.Fatalf("second POST /pay = %d %s, want 200 true", status, body)
	}
	if got := statuses(antaeus.Invoices()); got != "PPPPPPPPPP" {
		t.Errorf("after paying the rest the statuses are %s, want all PAID", got)
	}
	want := []fakeantaeus.Charge{{InvoiceID: 2, Paid: true}, {InvoiceID: 3, Paid: true}, {InvoiceID: 4}, {InvoiceID: 4, Paid: true}}
	if got := antaeus.Charges(); len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Errorf("charges = %+v, want to start with %+v", got, want)
	}
}

func gzipped(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = io.WriteString(zw, body)
		_ = zw.Close()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(buf.Bytes())
	}
}

func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func redirectTo(status int, location string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == location {
			paid(w, r)
			return
		}
		http.Redirect(w, r, location, status)
	}
}

func TestPayReadsTheProviderAnswerAsAntaeusDoes(t *testing.T) {
	tests := []struct {
		name       string
		answer     http.HandlerFunc
		wantStatus int
		wantBody   string
	}{
		{"a boolean true is paid", paid, 200, "true"},
		{"a boolean false is declined", declined, 200, "false"},
		{"the string true is paid", answerWith(200, "application/json", `{"result":"true"}`), 200, "true"},
		{"the string FALSE is declined, ignoring case", answerWith(200, "application/json", `{"result":"FALSE"}`), 200, "false"},
		{"the HTTP status is ignored", answerWith(503, "application/json", `{"result":true}`), 200, "true"},
		{"extra fields are ignored", answerWith(200, "application/json", `{"id":"ch_1","result":true,"amount":1}`), 200, "true"},
		{"content after the object is ignored", answerWith(200, "text/plain", `{"result":true} trailing`), 200, "true"},
		{"a gzip answer is decoded", gzipped(`{"result":true}`), 200, "true"},
		{"a 301 is followed with the same POST", redirectTo(http.StatusMovedPermanently, "/moved"), 200, "true"},
		{"a 307 is not followed", redirectTo(http.StatusTemporaryRedirect, "/moved"), 500, ""},
		{"an HTML page breaks the charge", answerWith(200, "text/html", "<html><body>ok</body></html>"), 500, ""},
		{"plain text breaks the charge", answerWith(200, "text/plain", "true"), 500, ""},
		{"an empty body breaks the charge", answerWith(200, "", ""), 500, ""},
		{"an object without result breaks the charge", answerWith(200, "application/json", `{}`), 500, ""},
		{"a numeric result breaks the charge", answerWith(200, "application/json", `{"result":1}`), 500, ""},
		{"a JSON array breaks the charge", answerWith(200, "application/json", `[true]`), 500, ""},
		{"null breaks the charge", answerWith(200, "application/json", `null`), 500, ""},
		{"a closed connection breaks the charge", hangUp, 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, antaeus, _ := startAntaeus(t, "/", tt.answer)
			status, body := call(t, http.MethodPost, server.URL+"/rest/v1/invoices/pay")
			if status != tt.wantStatus || body != tt.wantBody {
				t.Errorf("POST /pay = %d %q, want %d %q", status, body, tt.wantStatus, tt.wantBody)
			}
			charges := antaeus.Charges()
			if tt.wantStatus == 500 && (len(charges) != 1 || charges[0].Err == nil) {
				t.Errorf("charges = %+v, want one that failed", charges)
			}
		})
	}
}

func TestNewRefusesAnEndpointThatIsNotHTTP(t *testing.T) {
	for _, endpoint := range []string{"", "payments:9000", "ftp://payments"} {
		if _, err := fakeantaeus.New(fakeantaeus.Options{ProviderEndpoint: endpoint}); err == nil {
			t.Errorf("New with endpoint %q succeeded, want an error", endpoint)
		}
	}
}
