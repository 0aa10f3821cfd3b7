package server

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
)

// ChargeResponse is the answer to every well-formed charge. Antaeus reads
// only Result.
type ChargeResponse struct {
	Result     bool        `json:"result"`
	ChargeID   string      `json:"charge_id"`
	CustomerID int64       `json:"customer_id"`
	Amount     json.Number `json:"amount"`
	Currency   string      `json:"currency,omitempty"`
}

// Outcome labels, in metrics and logs.
const (
	outcomePaid     = "paid"
	outcomeDeclined = "declined"
)

// jsonContentType is the Content-Type header value of every charge answer.
var jsonContentType = []string{echo.MIMEApplicationJSON}

// requestBodies recycles the buffers that charge bodies are read into, up
// to the body limit; ParseCharge keeps nothing of the bytes it is given.
var requestBodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (s *Server) charge(c echo.Context) error {
	if !isJSONContentType(c.Request().Header.Get(echo.HeaderContentType)) {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
	}
	body := requestBodies.Get().(*bytes.Buffer)
	defer requestBodies.Put(body)
	body.Reset()
	_, err := body.ReadFrom(c.Request().Body)
	if errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
		return err
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "the request body could not be read").SetInternal(err)
	}
	charge, err := ParseCharge(body.Bytes())
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}

	response := ChargeResponse{
		Result:     s.decider.Paid(),
		ChargeID:   prefixedRandomID("ch_"),
		CustomerID: charge.CustomerID,
		Amount:     charge.Amount,
		Currency:   charge.Currency,
	}
	s.charges.count(response.Result)
	noteCharge(c, response)
	// Set as echo would, from a slice shared by every answer: net/http
	// copies header values and never changes them.
	c.Response().Header()[echo.HeaderContentType] = jsonContentType
	return c.JSONBlob(http.StatusOK, response.appendJSON(answerBuffer(c)))
}

// appendJSON appends what json.Marshal would write for r, without reflection:
// a charge is answered on every request. Its strings need no escaping: the
// id is hexadecimal, the currency three capital letters, the amount a number
// literal already validated as JSON.
func (r *ChargeResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"result":`...)
	b = strconv.AppendBool(b, r.Result)
	b = append(b, `,"charge_id":"`...)
	b = append(b, r.ChargeID...)
	b = append(b, `","customer_id":`...)
	b = strconv.AppendInt(b, r.CustomerID, 10)
	b = append(b, `,"amount":`...)
	b = append(b, r.Amount...)
	if r.Currency != "" {
		b = append(b, `,"currency":"`...)
		b = append(b, r.Currency...)
		b = append(b, '"')
	}
	return append(b, '}')
}

func (s *Server) health(c echo.Context) error {
	return c.JSON(http.StatusOK, statusBody{Status: "ok"})
}

func (s *Server) ready(c echo.Context) error {
	if s.draining.Load() {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the server is shutting down")
	}
	return c.JSON(http.StatusOK, statusBody{Status: "ready"})
}

type statusBody struct {
	Status string `json:"status"`
}

func isJSONContentType(header string) bool {
	if header == echo.MIMEApplicationJSON {
		return true
	}
	mediaType, _, err := mime.ParseMediaType(header)
	return err == nil && mediaType == echo.MIMEApplicationJSON
}

// randomID returns 128 random bits in hexadecimal, for request ids. The
// runtime's generator is seeded by the operating system, unlike the decider's
// optionally seeded one, so ids differ across restarts with the same
// PAYMENTS_SEED; and it is cheap enough to call on every request.
func randomID() string { return prefixedRandomID("") }

// prefixedRandomID returns prefix followed by a randomID, in one allocation.
func prefixedRandomID(prefix string) string {
	var random [16]byte
	binary.LittleEndian.PutUint64(random[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(random[8:], rand.Uint64())
	var hexRandom [2 * len(random)]byte
	hex.Encode(hexRandom[:], random[:])
	var id strings.Builder
	id.Grow(len(prefix) + len(hexRandom))
	id.WriteString(prefix)
	id.Write(hexRandom[:])
	return id.String()
}

func outcome(paid bool) string {
	if paid {
		return outcomePaid
	}
	return outcomeDeclined
}
