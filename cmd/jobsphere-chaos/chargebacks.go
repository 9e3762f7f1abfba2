package main

import (
	"context"
	"sort"
	"strings"
	"time"
)

// Money that comes back at Stripe, as a card's holder and the platform's
// own Dashboard make it: a payment disputed by the cardholder (the funds
// and Stripe's fee withdrawn, later reinstated when the case is won), and
// a refund made in the Dashboard, not by the server.

// disputeFee is what the fake Stripe charges per dispute, as Stripe's $15.
const disputeFee = 1500

// fsDispute is a card dispute (a chargeback) of a payment.
type fsDispute struct {
	ID, PaymentIntent string
	Amount            int64
	Status            string // needs_response, won, lost
}

// chargeOf is the charge id of a succeeded PaymentIntent.
func chargeOf(pi string) string { return "ch_" + strings.TrimPrefix(pi, "pi_") }

// disputeObject is the dispute as its events carry it (API 2023-10-16),
// with the balance transactions it has moved so far.
func (s *fakeStripe) disputeObject(d *fsDispute, reinstated bool) map[string]any {
	bts := []map[string]any{{"id": s.newID("txn"), "object": "balance_transaction", "amount": -d.Amount, "fee": int64(disputeFee),
		"net": -d.Amount - disputeFee, "currency": "usd", "type": "adjustment", "reporting_category": "dispute"}}
	if reinstated {
		bts = append(bts, map[string]any{"id": s.newID("txn"), "object": "balance_transaction", "amount": d.Amount, "fee": -int64(disputeFee),
			"net": d.Amount + disputeFee, "currency": "usd", "type": "adjustment", "reporting_category": "dispute_reversal"})
	}
	return map[string]any{
		"id": d.ID, "object": "dispute", "amount": d.Amount, "currency": "usd", "charge": chargeOf(d.PaymentIntent),
		"payment_intent": d.PaymentIntent, "reason": "fraudulent", "status": d.Status, "balance_transactions": bts,
		"is_charge_refundable": false, "created": time.Now().Unix(), "livemode": false,
	}
}

// disputeAfter is how long after a payment its cardholder may dispute it:
// a real dispute comes days after the payment's own events, and these
// come with the run's delays and retries.
const disputeAfter = 20 * time.Second

// DisputePayment has the cardholder of a random succeeded payment, not
// yet disputed, dispute what of it was not refunded: the funds and the fee
// leave the platform's balance. It returns false when there is none.
func (s *fakeStripe) DisputePayment(pick func(n int) int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	var open []*fsIntent
	for _, pi := range s.intents {
		if pi.Status == "succeeded" && pi.Amount > pi.Refunded && s.disputes[pi.ID] == nil &&
			time.Since(time.Unix(pi.Created, 0)) > disputeAfter {
			open = append(open, pi)
		}
	}
	if len(open) == 0 {
		return false
	}
	sort.Slice(open, func(i, j int) bool { return open[i].ID < open[j].ID })
	pi := open[pick(len(open))]
	d := &fsDispute{ID: s.newID("dp"), PaymentIntent: pi.ID, Amount: pi.Amount - pi.Refunded, Status: "needs_response"}
	s.disputes[pi.ID] = d
	s.balance -= d.Amount + disputeFee
	s.bookDisputeLocked(d, -1)
	s.event("charge.dispute.created", s.disputeObject(d, false), "")
	s.event("charge.dispute.funds_withdrawn", s.disputeObject(d, false), "")
	return true
}

// CloseDispute decides a random open dispute: won, the funds and the fee
// come back; lost, they stay gone.
func (s *fakeStripe) CloseDispute(pick func(n int) int, won bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	var open []*fsDispute
	for _, d := range s.disputes {
		if d.Status == "needs_response" {
			open = append(open, d)
		}
	}
	if len(open) == 0 {
		return false
	}
	sort.Slice(open, func(i, j int) bool { return open[i].ID < open[j].ID })
	d := open[pick(len(open))]
	d.Status = "lost"
	if won {
		d.Status = "won"
		s.balance += d.Amount + disputeFee
		s.bookDisputeLocked(d, 1)
		s.event("charge.dispute.funds_reinstated", s.disputeObject(d, true), "")
	}
	s.event("charge.dispute.closed", s.disputeObject(d, won), "")
	return true
}

// DashboardRefund refunds part of a random succeeded, undisputed deposit
// from the Dashboard: Stripe sends charge.refunded for a refund the
// server did not ask for. (Not a job Checkout's payment: its escrow's own
// refund to the card would then be refused as too large — docs/money.md's
// "Money taken back" says what an operator does then.)
func (s *fakeStripe) DashboardRefund(pick func(n int) int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	jobPayments := map[string]bool{}
	for _, cs := range s.sessions {
		if cs.Kind == "job_payment" {
			jobPayments[cs.PaymentIntent] = true
		}
	}
	var open []*fsIntent
	for _, pi := range s.intents {
		if pi.Status == "succeeded" && pi.Amount > pi.Refunded && s.disputes[pi.ID] == nil && !jobPayments[pi.ID] {
			open = append(open, pi)
		}
	}
	if len(open) == 0 {
		return false
	}
	sort.Slice(open, func(i, j int) bool { return open[i].ID < open[j].ID })
	pi := open[pick(len(open))]
	amount := 1 + int64(pick(int(pi.Amount-pi.Refunded)))
	pi.Refunded += amount
	s.balance -= amount
	r := &fsRefund{ID: s.newID("re"), PaymentIntent: pi.ID, Amount: amount, Dashboard: true}
	s.refunds[r.ID] = r
	s.bookRefundLocked(r)
	s.event("charge.refunded", s.chargeObject(pi), "")
	return true
}

func (a *actor) opChargeback(context.Context) string {
	if !a.w.stripe.DisputePayment(a.rng.IntN) {
		return skip
	}
	return "ok"
}

func (a *actor) opCloseChargeback(context.Context) string {
	if !a.w.stripe.CloseDispute(a.rng.IntN, a.rng.IntN(2) == 0) {
		return skip
	}
	return "ok"
}

func (a *actor) opDashboardRefund(context.Context) string {
	if !a.w.stripe.DashboardRefund(a.rng.IntN) {
		return skip
	}
	return "ok"
}
