package app

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobsphere/jobsphere/app/database"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/webhooks"
)

// telemetry is the App's business metrics, made once in Open; the HTTP
// and GraphQL ones are package server's.
type telemetry struct {
	webhooks *prometheus.CounterVec
	ledger   *prometheus.CounterVec
}

func newTelemetry(reg prometheus.Registerer, meter *database.Meter) *telemetry {
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
	reg.MustRegister(t.webhooks, t.ledger,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "jobsphere_db_statements_total",
			Help: "SQL statements run, BEGIN, COMMIT and ROLLBACK included.",
		}, func() float64 { return float64(meter.Statements()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "jobsphere_db_round_trips_total",
			Help: "Round trips to PostgreSQL: each time the server sends after waiting for an answer (0 with SQLite).",
		}, func() float64 { return float64(meter.RoundTrips()) }),
	)
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
