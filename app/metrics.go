package app

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/webhooks"
)

// telemetry is the App's business metrics, made once in Open; the HTTP
// and GraphQL ones are package server's.
type telemetry struct {
	webhooks *prometheus.CounterVec
	ledger   *prometheus.CounterVec
}

func newTelemetry(reg prometheus.Registerer) *telemetry {
	t := &telemetry{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobsphere_webhook_events_total",
			Help: "Stripe webhook deliveries, by event type and outcome (processed, duplicate, ignored, bad_signature, failed).",
		}, []string{"type", "outcome"}),
		ledger: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobsphere_ledger_transactions_total",
			Help: "Ledger transactions committed, by type.",
		}, []string{"type"}),
	}
	reg.MustRegister(t.webhooks, t.ledger)
	return t
}

// observeWebhook counts one webhook delivery.
func (t *telemetry) observeWebhook(_ context.Context, eventType string, outcome webhooks.Outcome) {
	t.webhooks.WithLabelValues(eventType, string(outcome)).Inc()
}

// observeLedgerTransaction counts one committed ledger transaction (see
// ledger.WithObserver).
func (t *telemetry) observeLedgerTransaction(typ ledgertransaction.Type) {
	t.ledger.WithLabelValues(string(typ)).Inc()
}
