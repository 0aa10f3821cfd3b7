package server

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestTheStockAntaeusRequestGetsABooleanResult(t *testing.T) {
	h := newServer(t, testConfig(), Deps{}).Handler()
	for _, path := range []string{"/", "/v1/charges"} {
		t.Run("POST "+path, func(t *testing.T) {
			rec := serve(h, stockRequest(path, stockBody))

			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			if got := rec.Header().Get("Content-Encoding"); got != "" {
				t.Errorf("Content-Encoding = %q, want none", got)
			}
			resultOf(t, rec.Body.Bytes())
		})
	}
}

func TestChargeAcceptsEveryBodyAntaeusCanSend(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		want        ChargeResponse
	}{
		{
			name: "the stock body with an empty currency object",
			body: stockBody,
			want: ChargeResponse{CustomerID: 1, Amount: "356.72"},
		},
		{
			name: "a patched Antaeus sending the currency code as a string",
			body: `{"currency":"DKK","customer_id":2,"value":145.4}`,
			want: ChargeResponse{CustomerID: 2, Amount: "145.4", Currency: "DKK"},
		},
		{
			name: "keys in another order and an integer value",
			body: `{"value":57,"customer_id":1,"currency":{}}`,
			want: ChargeResponse{CustomerID: 1, Amount: "57"},
		},
		{
			name: "an amount in exponent form keeps the client's digits",
			body: `{"currency":"EUR","customer_id":1,"value":1.5e2}`,
			want: ChargeResponse{CustomerID: 1, Amount: "1.5e2", Currency: "EUR"},
		},
		{
			name: "unknown fields are ignored",
			body: `{"invoice_id":7,"currency":{},"customer_id":1,"value":10,"meta":{"a":[1,2]}}`,
			want: ChargeResponse{CustomerID: 1, Amount: "10"},
		},
		{
			name: "whitespace around the object and its values",
			body: "\n {\n \"currency\" : { } ,\r\n\t\"customer_id\" : 1 , \"value\" : 500 }\n",
			want: ChargeResponse{CustomerID: 1, Amount: "500"},
		},
		{
			name:        "a content type with a charset parameter",
			contentType: "application/json; charset=UTF-8",
			body:        stockBody,
			want:        ChargeResponse{CustomerID: 1, Amount: "356.72"},
		},
		{
			name: "the largest customer id",
			body: `{"currency":{},"customer_id":9223372036854775807,"value":0.01}`,
			want: ChargeResponse{CustomerID: 9223372036854775807, Amount: "0.01"},
		},
	}
	chargeID := regexp.MustCompile(`^ch_[0-9a-f]{32}$`)
	h := newServer(t, testConfig(), Deps{}).Handler()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := stockRequest("/v1/charges", tt.body)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec := serve(h, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
			got := decodeStrict[ChargeResponse](t, rec.Body.Bytes())

			if !chargeID.MatchString(got.ChargeID) {
				t.Errorf("charge_id = %q, want ch_ and 32 hex digits", got.ChargeID)
			}
			tt.want.Result, tt.want.ChargeID = got.Result, got.ChargeID
			if got != tt.want {
				t.Errorf("answer = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEveryChargeGetsItsOwnID(t *testing.T) {
	h := newServer(t, seeded(testConfig(), 1), Deps{}).Handler()
	seen := make(map[string]bool)
	for range 1000 {
		id := charge(t, h, stockBody).ChargeID
		if seen[id] {
			t.Fatalf("charge id %s answered twice", id)
		}
		seen[id] = true
	}
}

func TestChargeRejectsMalformedRequestsWithAJSONError(t *testing.T) {
	const (
		notJSONType  = "Content-Type must be application/json"
		notObject    = "request body must be a JSON object"
		badCustomer  = "customer_id must be a positive integer"
		badValue     = "value must be a positive number"
		badCurrency  = `currency must be an empty object or a 3-letter upper-case code such as "USD"`
		validPrefix  = `{"currency":{},"customer_id":1,"value":1`
		withCurrency = `{"customer_id":1,"value":1,"currency":`
	)
	tests := []struct {
		name        string
		contentType string // "-" sends none
		body        string
		wantStatus  int
		wantError   string
	}{
		{"no content type", "-", stockBody, 415, notJSONType},
		{"a text/plain content type", "text/plain", stockBody, 415, notJSONType},
		{"a form content type", "application/x-www-form-urlencoded", stockBody, 415, notJSONType},
		{"a content type that only starts like JSON", "application/jsonp", stockBody, 415, notJSONType},
		{"an unparsable content type", "application/json; charset", stockBody, 415, notJSONType},

		{"an empty body", "", "", 400, "request body is not valid JSON: unexpected end of JSON input"},
		{"plain text", "", "pay me", 400, "request body is not valid JSON: invalid character 'p' looking for beginning of value"},
		{"a truncated object", "", `{"currency":{},"customer_id":1,`, 400, "request body is not valid JSON: unexpected end of JSON input"},
		{"trailing garbage after the object", "", validPrefix + `} x`, 400, "request body is not valid JSON: invalid character 'x' after top-level value"},
		{"two objects", "", validPrefix + `}` + stockBody, 400, "request body is not valid JSON: invalid character '{' after top-level value"},
		{"a JSON array", "", `[` + stockBody + `]`, 400, notObject},
		{"JSON null", "", `null`, 400, notObject},
		{"a JSON string", "", `"charge"`, 400, notObject},
		{"a JSON number", "", `356.72`, 400, notObject},

		{"a missing customer_id", "", `{"currency":{},"value":1}`, 400, "customer_id is required"},
		{"a zero customer_id", "", `{"currency":{},"customer_id":0,"value":1}`, 400, badCustomer},
		{"a negative customer_id", "", `{"currency":{},"customer_id":-1,"value":1}`, 400, badCustomer},
		{"a fractional customer_id", "", `{"currency":{},"customer_id":1.5,"value":1}`, 400, badCustomer},
		{"a customer_id in exponent form", "", `{"currency":{},"customer_id":1e2,"value":1}`, 400, badCustomer},
		{"a customer_id as a string", "", `{"currency":{},"customer_id":"1","value":1}`, 400, badCustomer},
		{"a null customer_id", "", `{"currency":{},"customer_id":null,"value":1}`, 400, badCustomer},
		{"a customer_id beyond 64 bits", "", `{"currency":{},"customer_id":9223372036854775808,"value":1}`, 400, badCustomer},

		{"a missing value", "", `{"currency":{},"customer_id":1}`, 400, "value is required"},
		{"a zero value", "", `{"currency":{},"customer_id":1,"value":0}`, 400, badValue},
		{"a negative zero value", "", `{"currency":{},"customer_id":1,"value":-0.0}`, 400, badValue},
		{"a negative value", "", `{"currency":{},"customer_id":1,"value":-356.72}`, 400, badValue},
		{"a value as a string", "", `{"currency":{},"customer_id":1,"value":"356.72"}`, 400, badValue},
		{"a value as an object", "", `{"currency":{},"customer_id":1,"value":{"amount":1}}`, 400, badValue},
		{"a null value", "", `{"currency":{},"customer_id":1,"value":null}`, 400, badValue},
		{"a value too large to be finite", "", `{"currency":{},"customer_id":1,"value":1e400}`, 400, badValue},
		{"a value too small to be positive", "", `{"currency":{},"customer_id":1,"value":1e-400}`, 400, badValue},

		{"a missing currency", "", `{"customer_id":1,"value":1}`, 400, "currency is required"},
		{"a lower-case currency code", "", withCurrency + `"usd"}`, 400, badCurrency},
		{"a 2-letter currency code", "", withCurrency + `"US"}`, 400, badCurrency},
		{"a 4-letter currency code", "", withCurrency + `"USDT"}`, 400, badCurrency},
		{"a currency code with a digit", "", withCurrency + `"US1"}`, 400, badCurrency},
		{"an empty currency string", "", withCurrency + `""}`, 400, badCurrency},
		{"a non-empty currency object", "", withCurrency + `{"code":"USD"}}`, 400, badCurrency},
		{"a currency number", "", withCurrency + `978}`, 400, badCurrency},
		{"a currency array", "", withCurrency + `["USD"]}`, 400, badCurrency},
		{"a null currency", "", withCurrency + `null}`, 400, badCurrency},
	}
	h := newServer(t, testConfig(), Deps{}).Handler()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := stockRequest("/v1/charges", tt.body)
			switch tt.contentType {
			case "":
			case "-":
				req.Header.Del("Content-Type")
			default:
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec := serve(h, req)

			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			if got := errorOf(t, rec.Body.Bytes()); got != tt.wantError {
				t.Errorf("error = %q, want %q", got, tt.wantError)
			}
		})
	}
}

func TestChargeRejectsABodyOverTheLimit(t *testing.T) {
	cfg := testConfig()
	cfg.BodyLimit = 1024
	h := newServer(t, cfg, Deps{}).Handler()
	padded := func(size int) string {
		return stockBody[:len(stockBody)-1] + `,"pad":"` + strings.Repeat("x", size-len(stockBody)-9) + `"}`
	}
	tests := []struct {
		name       string
		body       string
		chunked    bool // no Content-Length, so the limit is enforced while reading
		wantStatus int
	}{
		{"a body of exactly the limit is charged", padded(1024), false, 200},
		{"a body one byte over the limit is refused by its length", padded(1025), false, 413},
		{"a chunked body over the limit is refused while read", padded(4096), true, 413},
		{"a chunked body within the limit is charged", padded(1000), true, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := stockRequest("/", tt.body)
			if tt.chunked {
				req.ContentLength = -1
			}
			rec := serve(h, req)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantStatus == 413 {
				if got, want := errorOf(t, rec.Body.Bytes()), "request body must not be larger than 1024 bytes"; got != want {
					t.Errorf("error = %q, want %q", got, want)
				}
			} else {
				resultOf(t, rec.Body.Bytes())
			}
		})
	}
}

func TestEveryOtherRouteAndMethodAnswersAJSONError(t *testing.T) {
	tests := []struct {
		method, path string
		wantStatus   int
		wantError    string
	}{
		{"GET", "/", 405, "method not allowed at this path"},
		{"PUT", "/v1/charges", 405, "method not allowed at this path"},
		{"POST", "/healthz", 405, "method not allowed at this path"},
		{"BREW", "/v1/charges", 405, "method not allowed at this path"},
		{"GET", "/v1/charges/ch_1", 404, "no endpoint at this path"},
		{"POST", "/v1/charges/", 404, "no endpoint at this path"},
		{"POST", "/rest/v1/invoices/pay", 404, "no endpoint at this path"},
		{"GET", "/%zz", 404, "no endpoint at this path"},
	}
	h := newServer(t, testConfig(), Deps{}).Handler()
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req := stockRequest("/", stockBody)
			req.Method, req.URL.Path, req.URL.RawPath = tt.method, tt.path, ""
			rec := serve(h, req)

			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := errorOf(t, rec.Body.Bytes()); got != tt.wantError {
				t.Errorf("error = %q, want %q", got, tt.wantError)
			}
		})
	}
}

func TestTheAuthTokenGuardsOnlyTheChargeEndpoints(t *testing.T) {
	cfg := testConfig()
	cfg.AuthToken = "s3cret-token"
	h := newServer(t, cfg, Deps{}).Handler()
	tests := []struct {
		name          string
		method, path  string
		authorization string
		wantStatus    int
	}{
		{"a charge without a token is refused", "POST", "/v1/charges", "", 401},
		{"a charge on the alias without a token is refused", "POST", "/", "", 401},
		{"a charge with a wrong token is refused", "POST", "/v1/charges", "Bearer s3cret-tokem", 401},
		{"a charge with a prefix of the token is refused", "POST", "/v1/charges", "Bearer s3cret", 401},
		{"a charge with the token in another scheme is refused", "POST", "/v1/charges", "Basic s3cret-token", 401},
		{"a charge with the token is answered", "POST", "/v1/charges", "Bearer s3cret-token", 200},
		{"the scheme name is case-insensitive", "POST", "/", "bearer s3cret-token", 200},
		{"liveness needs no token", "GET", "/healthz", "", 200},
		{"readiness needs no token", "GET", "/readyz", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := stockRequest(tt.path, stockBody)
			req.Method = tt.method
			if tt.authorization != "" {
				req.Header.Set("Authorization", tt.authorization)
			}
			rec := serve(h, req)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantStatus != 401 {
				return
			}
			if got, want := errorOf(t, rec.Body.Bytes()), "a valid bearer token is required"; got != want {
				t.Errorf("error = %q, want %q", got, want)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != "Bearer" {
				t.Errorf("WWW-Authenticate = %q, want Bearer", got)
			}
		})
	}
}

func TestTheChargeAnswerIsWhatEncodingJSONWouldWrite(t *testing.T) {
	for _, answer := range []ChargeResponse{
		{Result: true, ChargeID: "ch_0123456789abcdef0123456789abcdef", CustomerID: 1, Amount: "356.72"},
		{Result: false, ChargeID: "ch_ffffffffffffffffffffffffffffffff", CustomerID: 9223372036854775807, Amount: "1.5e2", Currency: "USD"},
	} {
		want, err := json.Marshal(answer)
		if err != nil {
			t.Fatal(err)
		}
		if got := answer.appendJSON(nil); string(got) != string(want) {
			t.Errorf("appendJSON = %s, want %s", got, want)
		}
	}
}
