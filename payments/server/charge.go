package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Charge is a validated charge request.
type Charge struct {
	CustomerID int64
	// Amount is the value exactly as the client wrote it.
	Amount json.Number
	// Currency is the ISO 4217 code, or empty when the client sent the empty
	// object that the stock Antaeus sends for its currency enum.
	Currency string
}

// chargeRequest keeps each field's raw JSON so that its type is checked and
// reported by name (currency may be an object or a string), and so that the
// amount keeps the client's exact digits.
type chargeRequest struct {
	Currency   json.RawMessage `json:"currency"`
	CustomerID json.RawMessage `json:"customer_id"`
	Value      json.RawMessage `json:"value"`
}

// ParseCharge validates a charge request body such as the one Antaeus sends,
// {"currency":{},"customer_id":1,"value":356.72}. Unknown fields are ignored.
// The error, if any, is one sentence naming the problem.
func ParseCharge(body []byte) (Charge, error) {
	var req chargeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return Charge{}, errors.New("request body must be a JSON object")
		}
		return Charge{}, fmt.Errorf("request body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); trimmed[0] != '{' {
		// null unmarshals into a struct without an error.
		return Charge{}, errors.New("request body must be a JSON object")
	}

	var charge Charge
	var err error
	if charge.CustomerID, err = parseCustomerID(req.CustomerID); err != nil {
		return Charge{}, err
	}
	if charge.Amount, err = parseAmount(req.Value); err != nil {
		return Charge{}, err
	}
	if charge.Currency, err = parseCurrency(req.Currency); err != nil {
		return Charge{}, err
	}
	return charge, nil
}

func parseCustomerID(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 {
		return 0, errors.New("customer_id is required")
	}
	id, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || id <= 0 {
		return 0, errors.New("customer_id must be a positive integer")
	}
	return id, nil
}

func parseAmount(raw json.RawMessage) (json.Number, error) {
	if len(raw) == 0 {
		return "", errors.New("value is required")
	}
	if !isJSONNumber(raw) {
		return "", errors.New("value must be a positive number")
	}
	value, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(value, 0) || value <= 0 {
		// ParseFloat reports a range error for both overflow and underflow.
		return "", errors.New("value must be a positive number")
	}
	return json.Number(raw), nil
}

func parseCurrency(raw json.RawMessage) (string, error) {
	const want = `currency must be an empty object or a 3-letter upper-case code such as "USD"`
	switch {
	case len(raw) == 0:
		return "", errors.New("currency is required")
	case raw[0] == '{':
		// A valid JSON object with nothing but whitespace between its braces.
		if len(bytes.TrimSpace(raw[1:len(raw)-1])) > 0 {
			return "", errors.New(want)
		}
		return "", nil
	case raw[0] == '"':
		var code string
		if err := json.Unmarshal(raw, &code); err != nil || !isCurrencyCode(code) {
			return "", errors.New(want)
		}
		return code, nil
	default:
		return "", errors.New(want)
	}
}

// isJSONNumber reports whether raw, a valid JSON value, is a number literal.
func isJSONNumber(raw json.RawMessage) bool {
	return raw[0] == '-' || ('0' <= raw[0] && raw[0] <= '9')
}

func isCurrencyCode(code string) bool {
	if len(code) != 3 {
		return false
	}
	for i := range len(code) {
		if code[i] < 'A' || code[i] > 'Z' {
			return false
		}
	}
	return true
}
