package acceptance

import (
	"errors"
	"strings"
	"testing"
)

// invoices builds invoices 1..n from a status strip such as "P..P".
func invoices(strip string) []Invoice {
	var list []Invoice
	for i, c := range strip {
		status := StatusPending
		if c == 'P' {
			status = StatusPaid
		}
		list = append(list, Invoice{ID: i + 1, CustomerID: 1, Amount: Money{Value: "100.5", Currency: "USD"}, Status: status})
	}
	return list
}

func TestExplainCallCountsWhatOnePayCallCanDo(t *testing.T) {
	changedAmount := invoices("PP..")
	changedAmount[3].Amount.Value = "42"

	tests := []struct {
		name          string
		before, after []Invoice
		answer        bool
		wantPaid      int
		wantErr       string
	}{
		{"a decline after two payments counts two", invoices("P...."), invoices("PPP.."), false, 2, ""},
		{"a decline at once counts none", invoices("P...."), invoices("P...."), false, 0, ""},
		{"true after paying every pending invoice counts them all", invoices("P.P.."), invoices("PPPPP"), true, 3, ""},
		{"true with invoices left pending is refused", invoices("P...."), invoices("PP..."), true, 0, "answered true yet 3 invoices are still PENDING"},
		{"false with nothing left pending is refused", invoices("P...."), invoices("PPPPP"), false, 0, "answered false yet no invoice is left PENDING"},
		{"a PAID invoice turning PENDING is refused", invoices("PP..."), invoices("P...."), false, 0, "invoice 2 went from PAID to PENDING"},
		{"a changed amount is refused", invoices("PP.."), changedAmount, false, 0, "invoice 4 is gone or has changed"},
		{"a missing invoice is refused", invoices("PP..."), invoices("PP.."), false, 0, "had 5 invoices and now has 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paid, err := explainCall(tt.before, tt.after, tt.answer)
			if tt.wantErr == "" {
				if err != nil || paid != tt.wantPaid {
					t.Errorf("explainCall = %d, %v; want %d, nil", paid, err, tt.wantPaid)
				}
				return
			}
			if !errors.Is(err, ErrInconsistent) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("explainCall error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
