package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tinjis/tinjis/payments/routes"
	"github.com/tinjis/tinjis/payments/settings"
)

// FuzzCharge posts arbitrary bodies with arbitrary content types to the
// charge endpoints. Whatever arrives, the answer is never a 5xx and always a
// JSON object: {"result":<bool>,...} with 200, {"error":"..."} otherwise.
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
		{"text/plain", "hello"},
		{"", ""},
	} {
		f.Add(seed.contentType, []byte(seed.body), false)
	}

	cfg := settings.Default()
	cfg.BodyLimit = 4 << 10
	h := newServer(f, cfg, Deps{}).Handler()

	f.Fuzz(func(t *testing.T, contentType string, body []byte, alias bool) {
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
