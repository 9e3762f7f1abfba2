// Package webhooks is the endpoint of Stripe's events: the raw body is
// verified against the Stripe-Signature header (by a payments.EventVerifier,
// the Stripe adapter's), each event id is recorded once, in the same
// database transaction as its effect, and the event is handed to the
// service that owns it.
package webhooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/stripeevent"
	"github.com/jobsphere/jobsphere/payments"
)

// Processor applies a verified event inside tx.
type Processor interface {
	HandleEvent(ctx context.Context, tx *ent.Tx, ev payments.Event) error
}

// Filter may be implemented by a Processor that can tell whether it acts
// on an event at all. Events it does not handle are still recorded (a
// redelivery is a duplicate) and still passed to HandleEvent, but their
// outcome is OutcomeIgnored rather than OutcomeProcessed.
type Filter interface {
	Handles(ev payments.Event) bool
}

// Outcome is what became of one delivery.
type Outcome string

// The outcomes, as the metrics name them.
const (
	OutcomeProcessed    Outcome = "processed"     // verified, recorded and applied
	OutcomeDuplicate    Outcome = "duplicate"     // verified, but recorded before: nothing applied
	OutcomeIgnored      Outcome = "ignored"       // verified and recorded; the processor does not act on its type
	OutcomeBadSignature Outcome = "bad_signature" // refused: no or wrong signature, too old, or no id or type
	OutcomeFailed       Outcome = "failed"        // verified, but recording or applying it failed: Stripe retries
)

// UnverifiedType is the event type reported with OutcomeBadSignature: the
// type written in an unverified body is not to be trusted (nor allowed to
// grow a metric's label set).
const UnverifiedType = "unverified"

// Handler is the webhook endpoint.
type Handler struct {
	client    *ent.Client
	verifier  payments.EventVerifier
	processor Processor
	logger    *slog.Logger
	observe   func(ctx context.Context, eventType string, outcome Outcome)
	// skipsReported: the database answers a skipped insert with no row
	// (PostgreSQL's RETURNING); SQLite says nothing, so record asks first.
	skipsReported bool
}

// New returns the endpoint of the events verifier accepts; postgres says
// the client's database is PostgreSQL.
func New(client *ent.Client, verifier payments.EventVerifier, processor Processor, logger *slog.Logger, postgres bool) *Handler {
	return &Handler{client: client, verifier: verifier, processor: processor, logger: logger,
		observe: func(context.Context, string, Outcome) {}, skipsReported: postgres}
}

// OnOutcome makes f hear of every delivery Receive handles, over HTTP or
// from the sandbox: the event's type (UnverifiedType when it does not
// verify) and its outcome. Set it before the handler serves.
func (h *Handler) OnOutcome(f func(ctx context.Context, eventType string, outcome Outcome)) {
	h.observe = f
}

// maxPayload bounds an event body; Stripe's are far smaller.
const maxPayload = 512 << 10

// ServeHTTP answers 200 once the event is recorded and applied (or was
// already), 400 when it does not verify (nothing recorded), and 500 when
// applying it failed (nothing recorded, so Stripe's retry applies it).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil || len(payload) > maxPayload {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	err = h.Receive(r.Context(), payload, r.Header.Get("Stripe-Signature"))
	var bad *payments.UnverifiedEventError
	switch {
	case errors.As(err, &bad):
		h.logger.WarnContext(r.Context(), "stripe webhook refused", "reason", bad.Reason)
		http.Error(w, bad.Reason, http.StatusBadRequest)
	case err != nil:
		h.logger.ErrorContext(r.Context(), "stripe webhook failed", "err", err)
		http.Error(w, "event not processed; retry", http.StatusInternalServerError)
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"received":true}`)
	}
}

// Receive verifies and applies one event: the HTTP route's work without
// HTTP, also used by the sandbox to deliver its events.
func (h *Handler) Receive(ctx context.Context, payload []byte, signature string) error {
	ev, err := h.verifier.VerifyEvent(payload, signature)
	var bad *payments.UnverifiedEventError
	if errors.As(err, &bad) {
		h.observe(ctx, UnverifiedType, OutcomeBadSignature)
		return err
	}
	if err != nil { // verified, but unreadable: nothing recorded, Stripe retries
		h.observe(ctx, string(ev.Type), OutcomeFailed)
		return fmt.Errorf("read event %s: %w", ev.ID, err)
	}
	outcome := OutcomeProcessed
	err = h.client.WithTx(ctx, func(tx *ent.Tx) error {
		first, err := h.record(ctx, tx, ev, payload)
		if err != nil {
			return fmt.Errorf("record event %s: %w", ev.ID, err)
		}
		if !first {
			outcome = OutcomeDuplicate
			h.logger.InfoContext(ctx, "stripe event already processed", "event", ev.ID, "type", ev.Type)
			return nil
		}
		if f, ok := h.processor.(Filter); ok && !f.Handles(ev) {
			outcome = OutcomeIgnored
		}
		return h.processor.HandleEvent(ctx, tx, ev)
	})
	if err != nil {
		outcome = OutcomeFailed
	}
	h.observe(ctx, string(ev.Type), outcome)
	return err
}

// record stores the event id; false when it was stored before (a
// duplicate delivery). The unique id makes two concurrent deliveries of
// one event apply it once: the second waits for the first and finds it.
// On SQLite, which serialises writers, a look first tells a duplicate.
func (h *Handler) record(ctx context.Context, tx *ent.Tx, ev payments.Event, payload []byte) (bool, error) {
	if !h.skipsReported {
		seen, err := tx.StripeEvent.Query().Where(stripeevent.StripeEventID(ev.ID)).Exist(ctx)
		if err != nil || seen {
			return false, err
		}
	}
	c := tx.StripeEvent.Create().SetID(pulid.New("evt")).
		SetStripeEventID(ev.ID).SetType(string(ev.Type)).SetLivemode(ev.Livemode).
		SetPayload(payload).SetStatus(stripeevent.StatusPROCESSED).SetProcessedAt(time.Now())
	if ev.Account != "" {
		c.SetAccount(ev.Account)
	}
	err := c.OnConflictColumns(stripeevent.FieldStripeEventID).DoNothing().Exec(ctx)
	if errors.Is(err, sql.ErrNoRows) { // PostgreSQL: the insert was skipped
		return false, nil
	}
	return err == nil, err
}
