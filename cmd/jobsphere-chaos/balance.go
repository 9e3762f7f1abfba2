package main

import (
	"net/url"
	"slices"
	"strconv"
	"time"
)

// The fake Stripe keeps the platform balance's movements as Stripe does —
// a balance transaction for each charge (less Stripe's card fee), refund,
// transfer, transfer reversal and dispute withdrawal or reinstatement (with
// the dispute fee) — and answers stripe-go's list of them and the balance,
// for `jobsphere reconcile` among the run's end checks.

// cardFee is Stripe's standard card fee: 2.9% (rounded) plus 30 cents.
func cardFee(amount int64) int64 { return (amount*290+5000)/10000 + 30 }

// bookLocked records a movement of the platform's balance, with s.mu held;
// source is the object that made it, as the list expands it.
func (s *fakeStripe) bookLocked(typ string, amount, fee int64, source map[string]any) {
	now := time.Now().Unix()
	s.books = append(s.books, map[string]any{
		"id": s.newID("txn"), "object": "balance_transaction", "type": typ, "amount": amount, "fee": fee, "net": amount - fee,
		"currency": "usd", "status": "available", "created": now, "available_on": now, "source": source,
	})
}

// bookChargeLocked records a payment that succeeded.
func (s *fakeStripe) bookChargeLocked(pi *fsIntent) {
	s.bookLocked("charge", pi.Amount, cardFee(pi.Amount), map[string]any{"id": chargeOf(pi.ID), "object": "charge", "payment_intent": pi.ID})
}

// bookRefundLocked records a refund made.
func (s *fakeStripe) bookRefundLocked(r *fsRefund) {
	s.bookLocked("refund", -r.Amount, 0, map[string]any{"id": r.ID, "object": "refund", "payment_intent": r.PaymentIntent, "charge": chargeOf(r.PaymentIntent)})
}

// bookDisputeLocked records a dispute's funds and fee withdrawn (sign -1) or
// reinstated (+1).
func (s *fakeStripe) bookDisputeLocked(d *fsDispute, sign int64) {
	s.bookLocked("adjustment", sign*d.Amount, -sign*disputeFee, map[string]any{"id": d.ID, "object": "dispute",
		"payment_intent": d.PaymentIntent, "charge": chargeOf(d.PaymentIntent)})
}

// balanceTransactions answers GET /v1/balance_transactions: newest first,
// created[gte] and currency honoured, pages of limit after starting_after.
func (s *fakeStripe) balanceTransactions(q url.Values) (int, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["GET /v1/balance_transactions"]++
	since, _ := strconv.ParseInt(q.Get("created[gte]"), 10, 64)
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 || limit > 100 {
		limit = 10
	}
	var newest []map[string]any
	for _, bt := range slices.Backward(s.books) {
		if bt["created"].(int64) >= since && (q.Get("currency") == "" || q.Get("currency") == bt["currency"]) {
			newest = append(newest, bt)
		}
	}
	if after := q.Get("starting_after"); after != "" {
		i := slices.IndexFunc(newest, func(bt map[string]any) bool { return bt["id"] == after })
		newest = newest[i+1:]
	}
	page := newest[:min(limit, len(newest))]
	return 200, mustJSON(map[string]any{"object": "list", "url": "/v1/balance_transactions", "data": page, "has_more": len(newest) > len(page)})
}

// platformBalance answers GET /v1/balance: every movement's net, available.
func (s *fakeStripe) platformBalance() (int, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["GET /v1/balance"]++
	var total int64
	for _, bt := range s.books {
		total += bt["net"].(int64)
	}
	return 200, mustJSON(map[string]any{"object": "balance", "livemode": false,
		"available": []any{map[string]any{"amount": total, "currency": "usd"}},
		"pending":   []any{map[string]any{"amount": 0, "currency": "usd"}}})
}
