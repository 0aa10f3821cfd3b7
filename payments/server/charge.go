package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/buger/jsonparser"
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

// ParseCharge validates a charge request body such as the one Antaeus sends,
// {"currency":{},"customer_id":1,"value":356.72}. Unknown fields are ignored;
// names match as encoding/json matches them into a struct (case-insensitively,
// the last duplicate winning). The error, if any, is one sentence naming the
// problem.
//
// Valid JSON is what encoding/json accepts (json.Valid, pooled, no
// allocation); the fields are then read with jsonparser, which allocates
// nothing, instead of decoding through reflection.
func ParseCharge(body []byte) (Charge, error) {
	if !json.Valid(body) {
		return Charge{}, invalidJSON(body)
	}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); trimmed[0] != '{' {
		return Charge{}, errors.New("request body must be a JSON object")
	}

	var customerID, amount, currency chargeField
	err := jsonparser.ObjectEach(body, func(key, value []byte, kind jsonparser.ValueType, _ int) error {
		switch {
		case bytes.EqualFold(key, keyCustomerID):
			customerID = chargeField{value, kind}
		case bytes.EqualFold(key, keyValue):
			amount = chargeField{value, kind}
		case bytes.EqualFold(key, keyCurrency):
			currency = chargeField{value, kind}
		}
		return nil
	})
	if err != nil {
		// Unreachable for a body json.Valid accepted.
		return Charge{}, fmt.Errorf("request body is not valid JSON: %w", err)
	}

	var charge Charge
	if charge.CustomerID, err = parseCustomerID(customerID); err != nil {
		return Charge{}, err
	}
	if charge.Amount, err = parseAmount(amount); err != nil {
		return Charge{}, err
	}
	if charge.Currency, err = parseCurrency(currency); err != nil {
		return Charge{}, err
	}
	return charge, nil
}

// The request's field names.
var (
	keyCustomerID = []byte("customer_id")
	keyValue      = []byte("value")
	keyCurrency   = []byte("currency")
)

// chargeField is one field of the request as jsonparser found it: a string's
// value without its quotes (still escaped), any other value's JSON text. A
// field that is absent has kind NotExist.
type chargeField struct {
	value []byte
	kind  jsonparser.ValueType
}

// invalidJSON explains why encoding/json refuses body, in its own words.
func invalidJSON(body []byte) error {
	var anything json.RawMessage
	err := json.Unmarshal(body, &anything)
	if err == nil {
		return errors.New("request body is not valid JSON")
	}
	return fmt.Errorf("request body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func parseCustomerID(field chargeField) (int64, error) {
	if field.kind == jsonparser.NotExist {
		return 0, errors.New("customer_id is required")
	}
	id, err := strconv.ParseInt(string(field.value), 10, 64)
	if field.kind != jsonparser.Number || err != nil || id <= 0 {
		return 0, errors.New("customer_id must be a positive integer")
	}
	return id, nil
}

func parseAmount(field chargeField) (json.Number, error) {
	if field.kind == jsonparser.NotExist {
		return "", errors.New("value is required")
	}
	if field.kind != jsonparser.Number {
		return "", errors.New("value must be a positive number")
	}
	value, err := strconv.ParseFloat(string(field.value), 64)
	if err != nil || math.IsInf(value, 0) || value <= 0 {
		// ParseFloat reports a range error for both overflow and underflow.
		return "", errors.New("value must be a positive number")
	}
	return json.Number(field.value), nil
}

func parseCurrency(field chargeField) (string, error) {
	const want = `currency must be an empty object or a 3-letter upper-case code such as "USD"`
	switch field.kind {
	case jsonparser.NotExist:
		return "", errors.New("currency is required")
	case jsonparser.Object:
		// A valid JSON object with nothing but whitespace between its braces.
		if len(bytes.TrimSpace(field.value[1:len(field.value)-1])) > 0 {
			return "", errors.New(want)
		}
		return "", nil
	case jsonparser.String:
		var unescaped [8]byte
		code, err := jsonparser.Unescape(field.value, unescaped[:])
		if err != nil || !isCurrencyCode(code) {
			return "", errors.New(want)
		}
		return string(code), nil
	default:
		return "", errors.New(want)
	}
}

func isCurrencyCode(code []byte) bool {
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
