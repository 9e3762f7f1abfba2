package sandbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/payments"
)

// sandboxCharge is a payment the sandbox took (a paid Checkout session or a
// succeeded PaymentIntent) and what of it was refunded since: by the
// server (Refund) or by the developer "in the Dashboard" (RefundCharge).
type sandboxCharge struct {
	ID, PaymentIntentID, Currency string
	Amount, Refunded              int64
	Dispute                       *sandboxDispute // the cardholder's bank's, if any
	warningID                     string          // its early fraud warning's, if any
}

// snapshot is a copy of the charge to use without sb.mu.
func (ch *sandboxCharge) snapshot() sandboxCharge {
	out := *ch
	if ch.Dispute != nil {
		d := *ch.Dispute
		out.Dispute = &d
	}
	return out
}

// chargeLocked is a known payment, with sb.mu held.
func (sb *Sandbox) chargeLocked(paymentIntentID string) (*sandboxCharge, error) {
	ch := sb.charges[paymentIntentID]
	if ch == nil {
		return nil, jobsphere.Errorf(jobsphere.NotFound,
			"No payment %s (the sandbox forgets payments when the server restarts)", paymentIntentID)
	}
	return ch, nil
}

// charged records a payment taken (its event recorded by the server),
// once.
func (sb *Sandbox) charged(ctx context.Context, paymentIntentID string, amount int64, currency string) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.charges[paymentIntentID] != nil {
		return
	}
	ch := &sandboxCharge{ID: "ch_sandbox_" + ulidOf("x"), PaymentIntentID: paymentIntentID, Currency: currency, Amount: amount}
	sb.charges[paymentIntentID] = ch
	sb.bookMade(ctx, payments.BalanceTransaction{Type: payments.BalanceCharge, Amount: amount, Fee: CardFee(amount),
		SourceID: ch.ID, PaymentIntentID: paymentIntentID})
}

// Charge returns the payment of a PaymentIntent, for its page.
func (sb *Sandbox) Charge(paymentIntentID string) (sandboxCharge, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	ch, err := sb.chargeLocked(paymentIntentID)
	if err != nil {
		return sandboxCharge{}, err
	}
	return ch.snapshot(), nil
}

// Refund implements payments.Gateway: the sandbox refunds any payment it
// took, once per key, and reports it as Stripe does, by a charge.refunded
// event (which the server recognises as its own). A payment refunded in
// full before is no error and no refund, as on Stripe; one the sandbox
// does not know (made before a restart) is refunded without an event.
func (sb *Sandbox) Refund(ctx context.Context, p payments.RefundParams) (string, error) {
	sb.mu.Lock()
	switch prior := sb.byKey[p.IdempotencyKey].(type) {
	case string:
		sb.mu.Unlock()
		return prior, nil
	case refundInProgress:
		sb.mu.Unlock()
		// Stripe's idempotency_key_in_use (409): the caller tries again later.
		return "", errors.New("sandbox: a refund under this idempotency key is in progress")
	}
	sb.byKey[p.IdempotencyKey] = refundInProgress{}
	sb.mu.Unlock()
	id := ""
	defer func() { // the key is the refund's once made, free again otherwise
		sb.mu.Lock()
		defer sb.mu.Unlock()
		if id == "" {
			delete(sb.byKey, p.IdempotencyKey)
		} else {
			sb.byKey[p.IdempotencyKey] = id
		}
	}()
	ch, refunded, err := sb.refund(p.PaymentIntentID, p.Amount)
	switch {
	case err == nil:
		// Stripe refunds whether or not its events are delivered (it
		// retries them), so a failed delivery is only logged.
		if err := errors.Join(sb.send(ctx, payments.ChargeRefunded, chargeObject(ch)), sb.warningOver(ctx, ch)); err != nil {
			sb.logger.WarnContext(ctx, "sandbox: charge.refunded not delivered", "payment_intent", p.PaymentIntentID, "err", err)
		}
	case jobsphere.ErrorCode(err) == jobsphere.NotFound:
		refunded = p.Amount
	case ch.Dispute == nil && ch.Refunded == ch.Amount:
		return "", nil // charge_already_refunded: nothing is owed
	case ch.Dispute != nil:
		return "", &payments.RefusedError{Message: "Sandbox: the payment is disputed (charge_disputed)", Err: err}
	default:
		return "", &payments.RefusedError{Message: "Sandbox: the refund exceeds what is left of the payment", Err: err}
	}
	id = "re_sandbox_" + ulidOf("x")
	sb.bookRefund(ctx, id, p.PaymentIntentID, refunded)
	return id, nil
}

// refundInProgress holds a refund's idempotency key while the refund is
// made, so that a second request under it cannot refund again meanwhile.
type refundInProgress struct{}

// RefundCharge refunds amount of a payment (0: what is left of it) as a
// developer would in Stripe's Dashboard, outside the server, and sends the
// signed charge.refunded Stripe would. If the server does not record the
// event, nothing is refunded and the page says why.
func (sb *Sandbox) RefundCharge(ctx context.Context, paymentIntentID string, amount int64) (sandboxCharge, error) {
	ch, amount, err := sb.refund(paymentIntentID, amount)
	if err != nil {
		return ch, err
	}
	if err := sb.send(ctx, payments.ChargeRefunded, chargeObject(ch)); err != nil {
		sb.mu.Lock()
		sb.charges[paymentIntentID].Refunded -= amount
		sb.mu.Unlock()
		return ch, fmt.Errorf("deliver charge.refunded of %s: %w", paymentIntentID, err)
	}
	sb.bookRefund(ctx, "re_sandbox_"+ulidOf("x"), paymentIntentID, amount)
	return ch, sb.warningOver(ctx, ch)
}

// refund adds a refund of amount (0: the rest) to a known payment and
// returns the payment as it left it and the amount refunded.
func (sb *Sandbox) refund(paymentIntentID string, amount int64) (sandboxCharge, int64, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	ch, err := sb.chargeLocked(paymentIntentID)
	if err != nil {
		return sandboxCharge{}, 0, err
	}
	if ch.Dispute != nil { // Stripe's charge_disputed
		return ch.snapshot(), 0, jobsphere.Errorf(jobsphere.Conflict, "The payment is disputed: a disputed charge cannot be refunded")
	}
	left := ch.Amount - ch.Refunded
	if amount == 0 {
		amount = left
	}
	if amount <= 0 || amount > left {
		return ch.snapshot(), 0, jobsphere.InvalidInput(jobsphere.FieldError{Field: "amount",
			Message: "Refund between " + sb.currency.Display(min(1, left)) + " and " + sb.currency.Display(left)})
	}
	ch.Refunded += amount
	return ch.snapshot(), amount, nil
}

// chargeObject is the charge as a charge.refunded event carries it (API
// 2023-10-16: no refunds list, the running total refunded).
func chargeObject(ch sandboxCharge) map[string]any {
	return map[string]any{
		"id": ch.ID, "object": "charge", "amount": ch.Amount, "amount_captured": ch.Amount,
		"amount_refunded": ch.Refunded, "refunded": ch.Refunded == ch.Amount, "captured": true, "paid": true,
		"status": "succeeded", "currency": ch.Currency, "payment_intent": ch.PaymentIntentID,
	}
}
