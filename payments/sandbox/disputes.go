package sandbox

import (
	"context"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/payments"
)

// A payment the sandbox took can be disputed as a cardholder's bank would
// (the 4000 0000 0000 0259 card does it on paying, the payment's page on
// asking) and the case closed, won or lost, from the payment's page; a
// payment with the 4000 0000 0000 5423 card is warned of as fraud. Each
// step sends the signed events Stripe would, in the order Stripe sends
// them; sending a step again resends its events (the server takes each
// once), so a delivery that failed can be repeated from the page.

// DisputeFee is Stripe's dispute fee, which the sandbox withdraws with a
// disputed payment and gives back when the case is won.
const DisputeFee = 1500

// sandboxDispute is a dispute of a payment the sandbox took.
type sandboxDispute struct {
	ID     string
	Status string // Stripe's: needs_response, won or lost
	Amount int64
	// The balance transactions of the funds withdrawn and reinstated.
	withdrawnID, reinstatedID string
	created                   int64
}

// afterPayment does what a test card does once its payment succeeded:
// 0259's chargeback, 5423's early fraud warning. As on Stripe, the
// payment stands whether or not their events are delivered; a failed
// delivery is logged, and the payment's page can send them again.
func (sb *Sandbox) afterPayment(ctx context.Context, paymentIntentID string, outcome cardOutcome) {
	var err error
	switch {
	case outcome.disputed:
		_, err = sb.DisputeCharge(ctx, paymentIntentID)
	case outcome.fraudWarning:
		err = sb.WarnOfFraud(ctx, paymentIntentID)
	}
	if err != nil {
		sb.logger.WarnContext(ctx, "sandbox: a test card's later event not delivered", "payment_intent", paymentIntentID, "err", err)
	}
}

// DisputeCharge disputes what is left of a payment (not refunded) as the
// cardholder's bank would: charge.dispute.created, then
// charge.dispute.funds_withdrawn, which takes the amount and DisputeFee
// from the platform's balance. Asked again while the case is open, it
// sends them again.
func (sb *Sandbox) DisputeCharge(ctx context.Context, paymentIntentID string) (sandboxCharge, error) {
	snapshot, err := sb.changeCharge(paymentIntentID, func(ch *sandboxCharge) error {
		switch {
		case ch.Dispute != nil && ch.Dispute.Status != "needs_response":
			return jobsphere.Errorf(jobsphere.Conflict, "The dispute of this payment is closed (%s)", ch.Dispute.Status)
		case ch.Dispute == nil && ch.Refunded == ch.Amount:
			return jobsphere.Errorf(jobsphere.Conflict, "A payment refunded in full cannot be disputed")
		case ch.Dispute == nil:
			d := &sandboxDispute{ID: "dp_sandbox_" + ulidOf("x"), Status: "needs_response", Amount: ch.Amount - ch.Refunded,
				withdrawnID: "txn_sandbox_" + ulidOf("x"), created: time.Now().Unix()}
			if err := sb.book(ctx, payments.BalanceTransaction{ID: d.withdrawnID, Type: payments.BalanceAdjustment,
				Amount: -d.Amount, Fee: DisputeFee, SourceID: d.ID, PaymentIntentID: ch.PaymentIntentID}); err != nil {
				return err
			}
			ch.Dispute = d
		}
		return nil
	})
	if err != nil {
		return snapshot, err
	}
	for _, typ := range []payments.EventType{payments.ChargeDisputeCreated, payments.ChargeDisputeFundsWithdrawn} {
		if err := sb.send(ctx, typ, disputeObject(snapshot)); err != nil {
			return snapshot, err
		}
	}
	// A disputed payment's fraud warning is no longer actionable.
	return snapshot, sb.warningOver(ctx, snapshot)
}

// CloseDispute closes a payment's dispute as the bank decides it: won,
// Stripe reinstates the funds and the fee (charge.dispute.funds_reinstated)
// and closes the case (charge.dispute.closed, won); lost, it only closes
// it. Asked again with the same outcome, it sends the events again.
func (sb *Sandbox) CloseDispute(ctx context.Context, paymentIntentID string, won bool) (sandboxCharge, error) {
	status := "lost"
	if won {
		status = "won"
	}
	snapshot, err := sb.changeCharge(paymentIntentID, func(ch *sandboxCharge) error {
		switch {
		case ch.Dispute == nil:
			return jobsphere.Errorf(jobsphere.Conflict, "This payment is not disputed")
		case ch.Dispute.Status != "needs_response" && ch.Dispute.Status != status:
			return jobsphere.Errorf(jobsphere.Conflict, "The dispute of this payment is closed (%s)", ch.Dispute.Status)
		}
		if won && ch.Dispute.reinstatedID == "" {
			id := "txn_sandbox_" + ulidOf("x")
			if err := sb.book(ctx, payments.BalanceTransaction{ID: id, Type: payments.BalanceAdjustment,
				Amount: ch.Dispute.Amount, Fee: -DisputeFee, SourceID: ch.Dispute.ID, PaymentIntentID: ch.PaymentIntentID}); err != nil {
				return err
			}
			ch.Dispute.reinstatedID = id
		}
		ch.Dispute.Status = status
		return nil
	})
	if err != nil {
		return snapshot, err
	}
	events := []payments.EventType{payments.ChargeDisputeClosed}
	if won {
		events = []payments.EventType{payments.ChargeDisputeFundsReinstated, payments.ChargeDisputeClosed}
	}
	for _, typ := range events {
		if err := sb.send(ctx, typ, disputeObject(snapshot)); err != nil {
			return snapshot, err
		}
	}
	return snapshot, nil
}

// WarnOfFraud sends the early fraud warning a card's issuer would about a
// payment (radar.early_fraud_warning.created).
func (sb *Sandbox) WarnOfFraud(ctx context.Context, paymentIntentID string) error {
	snapshot, err := sb.changeCharge(paymentIntentID, func(ch *sandboxCharge) error {
		if ch.warningID == "" {
			ch.warningID = "issfr_sandbox_" + ulidOf("x")
		}
		return nil
	})
	if err != nil {
		return err
	}
	return sb.send(ctx, payments.RadarEarlyFraudWarningCreated, fraudWarningObject(snapshot, true))
}

// changeCharge applies change to a known payment under sb.mu and returns
// the payment as change left it; a refusal of change changes nothing.
func (sb *Sandbox) changeCharge(paymentIntentID string, change func(*sandboxCharge) error) (sandboxCharge, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	ch, err := sb.chargeLocked(paymentIntentID)
	if err != nil {
		return sandboxCharge{}, err
	}
	if err := change(ch); err != nil {
		return sandboxCharge{}, err
	}
	return ch.snapshot(), nil
}

// warningOver tells, as Stripe does (radar.early_fraud_warning.updated),
// that a payment's fraud warning is no longer actionable: the payment was
// refunded in full or disputed.
func (sb *Sandbox) warningOver(ctx context.Context, ch sandboxCharge) error {
	if ch.warningID == "" || (ch.Dispute == nil && ch.Refunded < ch.Amount) {
		return nil
	}
	return sb.send(ctx, payments.RadarEarlyFraudWarningUpdated, fraudWarningObject(ch, false))
}

// disputeObject is the dispute as its events carry it (API 2023-10-16):
// its balance transactions are the funds withdrawn, with the fee, and,
// once won, the funds and the fee reinstated.
func disputeObject(ch sandboxCharge) map[string]any {
	d := ch.Dispute
	moved := []any{balanceTransaction(d.withdrawnID, -d.Amount, DisputeFee, ch.Currency, "dispute", "Chargeback withdrawal for "+ch.ID)}
	if d.reinstatedID != "" {
		moved = append(moved, balanceTransaction(d.reinstatedID, d.Amount, -DisputeFee, ch.Currency, "dispute_reversal", "Chargeback reversal for "+ch.ID))
	}
	return map[string]any{
		"id": d.ID, "object": "dispute", "amount": d.Amount, "currency": ch.Currency,
		"charge": ch.ID, "payment_intent": ch.PaymentIntentID, "reason": "fraudulent", "status": d.Status,
		"balance_transactions": moved, "is_charge_refundable": false, "livemode": false, "created": d.created,
		"metadata": map[string]string{},
	}
}

func balanceTransaction(id string, amount, fee int64, currency, category, description string) map[string]any {
	return map[string]any{
		"id": id, "object": "balance_transaction", "amount": amount, "fee": fee, "net": amount - fee,
		"currency": currency, "type": "adjustment", "reporting_category": category, "description": description,
		"status": "available", "created": time.Now().Unix(), "available_on": time.Now().Unix(),
		"fee_details": []any{map[string]any{"amount": fee, "currency": currency, "description": "Dispute fee", "type": "stripe_fee"}},
	}
}

// fraudWarningObject is the early fraud warning as its events carry it.
func fraudWarningObject(ch sandboxCharge, actionable bool) map[string]any {
	return map[string]any{
		"id": ch.warningID, "object": "radar.early_fraud_warning", "actionable": actionable,
		"charge": ch.ID, "payment_intent": ch.PaymentIntentID, "fraud_type": "made_with_stolen_card",
		"created": time.Now().Unix(), "livemode": false,
	}
}
