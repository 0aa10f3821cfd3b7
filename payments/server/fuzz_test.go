package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tinjis/tinjis/payments/routes"
	"github.com/tinjis/tinjis/payments/settings"
)

// FuzzCharge posts arbitrary bodies with arbitrary content types to the
// charge endpoints. Whatever arrives, the answer is never a 5xx and always a
// JSON object: {"result":<bool>,...} with 200, {"error":"..."} otherwise; and
// ParseCharge reads each body as decoding it with encoding/json would.
func FuzzCharge(f *testing.F) {
	for _, seed := range []struct {
		contentType string
		body        string
	}{
		{"application/json", stockBody},
		{"application/json", `{"currency":"USD","customer_id":2,"value":145.4}`},
		{"application/json; charset=utf-8", `{"value":57,"customer_id":1,"currency":{},"x":[1,{"y":null}]}`},
		{"application/json", `{"currency":{},"customer_id":1.5,"value":-1}`},
		{"application/json", `{"currency":{"a":1},"customer_id":"1","value":"1"}`},
		{"application/json", `{"currency":{},"customer_id":1,"value":1e400} trailing`},
		{"application/json", `[null, true, "\u0000"]`},
		{"application/json", `{"CURRENCY":{},"Customer_Id":1,"value":2,"value":3}`},
		{"application/json", `{"currency":"\u0055SD","customer_\u0069d":1,"value":1}`},
		{"text/plain", "hello"},
		{"", ""},
	} {
		f.Add(seed.contentType, []byte(seed.body), false)
	}

	cfg := settings.Default()
	cfg.BodyLimit = 4 << 10
	h := newServer(f, cfg, Deps{}).Handler()

	f.Fuzz(func(t *testing.T, contentType string, body []byte, alias bool) {
		agreesWithEncodingJSON(t, body)
		path := routes.Charge
		if alias {
			path = routes.ChargeAlias
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := serve(h, req)

		if rec.Code >= 500 {
			t.Fatalf("status %d for %q %q: %s", rec.Code, contentType, body, rec.Body)
		}
		if got := rec.Header().Get("Content-Type"); got != "application/json" {
			t.Fatalf("Content-Type %q for %q %q", got, contentType, body)
		}
		var answer map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatalf("status %d body %q is not a JSON object: %v", rec.Code, rec.Body, err)
		}
		if rec.Code == http.StatusOK {
			var result bool
			if err := json.Unmarshal(answer["result"], &result); err != nil {
				t.Fatalf("200 body %q has no boolean result", rec.Body)
			}
			return
		}
		var message string
		if err := json.Unmarshal(answer["error"], &message); err != nil || message == "" {
			t.Fatalf("status %d body %q has no error message", rec.Code, rec.Body)
		}
	})
}

// agreesWithEncodingJSON fails unless ParseCharge accepts exactly the bodies
// that decoding with encoding/json accepts, with the same charge or the same
// error.
func agreesWithEncodingJSON(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := ParseCharge(body)
	want, wantErr := parseChargeWithEncodingJSON(body)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || got != want {
		t.Fatalf("ParseCharge(%q) = %+v, %v; encoding/json reads %+v, %v", body, got, gotErr, want, wantErr)
	}
}

// parseChargeWithEncodingJSON is the reference: each field decoded as raw
// JSON into a struct by encoding/json, then checked.
func parseChargeWithEncodingJSON(body []byte) (Charge, error) {
	var req struct {
		Currency   json.RawMessage `json:"currency"`
		CustomerID json.RawMessage `json:"customer_id"`
		Value      json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return Charge{}, errors.New("request body must be a JSON object")
		}
		return Charge{}, fmt.Errorf("request body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if bytes.TrimLeft(body, " \t\r\n")[0] != '{' {
		return Charge{}, errors.New("request body must be a JSON object")
	}
	var charge Charge
	switch id, err := strconv.ParseInt(string(req.CustomerID), 10, 64); {
	case req.CustomerID == nil:
		return Charge{}, errors.New("customer_id is required")
	case err != nil || id <= 0:
		return Charge{}, errors.New("customer_id must be a positive integer")
	default:
		charge.CustomerID = id
	}
	var number json.Number
	switch value, err := strconv.ParseFloat(string(req.Value), 64); {
	case req.Value == nil:
		return Charge{}, errors.New("value is required")
	case json.Unmarshal(req.Value, &number) != nil || number == "" || err != nil || math.IsInf(value, 0) || value <= 0:
		return Charge{}, errors.New("value must be a positive number")
	default:
		charge.Amount = number
	}
	badCurrency := errors.New(`currency must be an empty object or a 3-letter upper-case code such as "USD"`)
	var object map[string]json.RawMessage
	switch {
	case req.Currency == nil:
		return Charge{}, errors.New("currency is required")
	case json.Unmarshal(req.Currency, &object) == nil && object != nil:
		if len(object) > 0 {
			return Charge{}, badCurrency
		}
	case json.Unmarshal(req.Currency, &charge.Currency) == nil && req.Currency[0] == '"':
		if !regexp.MustCompile(`^[A-Z]{3}$`).MatchString(charge.Currency) {
			return Charge{}, badCurrency
		}
	default:
		return Charge{}, badCurrency
	}
	return charge, nil
}
