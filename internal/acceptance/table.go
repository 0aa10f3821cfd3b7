package acceptance

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// progressTable prints one row per /pay call as soon as the call is done.
// Rows stream, so the columns have fixed widths instead of being measured.
type progressTable struct{ out io.Writer }

const progressRow = "%-4v  %-6v  %10v  %4v  %7v  %10v  %-16v  %v\n"

func newProgressTable(out io.Writer) progressTable {
	fmt.Fprintf(out, progressRow, "call", "answer", "newly PAID", "PAID", "PENDING", "PAID share", "success estimate", "invoices by id (P = PAID, . = PENDING)")
	return progressTable{out: out}
}

func (t progressTable) start(invoices []Invoice) {
	fmt.Fprintf(t.out, progressRow, "0", "-", "-", count(invoices, StatusPaid), count(invoices, StatusPending),
		paidShare(invoices), "-", statusStrip(invoices))
}

func (t progressTable) row(call Call, sofar Result, invoices []Invoice) {
	estimate := fmt.Sprintf("%d/%d = %.2f", sofar.Paid, sofar.Charges(), float64(sofar.Paid)/float64(sofar.Charges()))
	fmt.Fprintf(t.out, progressRow, call.Number, call.Answer, call.NewlyPaid, call.Paid, call.Pending,
		paidShare(invoices), estimate, statusStrip(invoices))
}

func paidShare(invoices []Invoice) string {
	if len(invoices) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(count(invoices, StatusPaid))/float64(len(invoices)))
}

// statusStrip shows every invoice, in id order, as one character.
func statusStrip(invoices []Invoice) string {
	byID := slices.SortedFunc(slices.Values(invoices), func(a, b Invoice) int { return a.ID - b.ID })
	var strip strings.Builder
	for _, invoice := range byID {
		switch invoice.Status {
		case StatusPaid:
			strip.WriteByte('P')
		case StatusPending:
			strip.WriteByte('.')
		default:
			strip.WriteByte('?')
		}
	}
	return strip.String()
}

// printInvoices lists the invoices as Antaeus holds them after the run.
func printInvoices(out io.Writer, invoices []Invoice) {
	fmt.Fprintln(out, "\nInvoices after the run:")
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "id\tcustomer\tamount\tcurrency\tstatus")
	for _, invoice := range slices.SortedFunc(slices.Values(invoices), func(a, b Invoice) int { return a.ID - b.ID }) {
		fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\n", invoice.ID, invoice.CustomerID, invoice.Amount.Value, invoice.Amount.Currency, invoice.Status)
	}
	w.Flush()
}
