// Package routes names the paths the payment provider serves, for the
// server and for what calls or probes it (the Pulumi program's endpoint
// and probes), without linking the server.
package routes

// Antaeus posts to PAYMENT_PROVIDER_ENDPOINT verbatim, so a bare
// http://payments:9000 lands on ChargeAlias.
const (
	Charge      = "/v1/charges"
	ChargeAlias = "/"
	Health      = "/healthz"
	Ready       = "/readyz"
	Metrics     = "/metrics"
)
