package sandbox

import (
	"context"
	"strings"
	"time"

	"github.com/jobsphere/jobsphere/payments"
)

// The sandbox keeps the platform balance's movements as Stripe does — a
// balance transaction for each charge (less Stripe's card fee), refund,
// transfer and dispute step (with the dispute fee) — so that the embedded
// default reconciles too. They live in memory, with its other records: the
// `reconciliation` query of the server that made them sees them; another
// process (`jobsphere reconcile`) does not.

// CardFee is the fee the sandbox keeps of a card payment, as Stripe's
// standard pricing does: 2.9% (rounded) plus 30 minor units.
func CardFee(amount int64) int64 { return (amount*290+5000)/10000 + 30 }

// bookLocked records a movement of the platform's balance, with sb.mu held;
// an empty ID gets a fresh one.
func (sb *Sandbox) bookLocked(bt payments.BalanceTransaction) {
	if bt.ID == "" {
		bt.ID = "txn_sandbox_" + ulidOf("x")
	}
	bt.Net, bt.Created = bt.Amount-bt.Fee, time.Now()
	sb.books = append(sb.books, bt)
}

// bookRefundLocked records a refund of a payment, with sb.mu held. Stripe
// keeps the payment's card fee.
func (sb *Sandbox) bookRefundLocked(refundID, paymentIntentID string, amount int64) {
	sb.bookLocked(payments.BalanceTransaction{Type: payments.BalanceRefund, Amount: -amount, SourceID: refundID, PaymentIntentID: paymentIntentID})
}

// BalanceTransactions implements payments.Gateway from the sandbox's
// books, at Stripe's precision (whole seconds).
func (sb *Sandbox) BalanceTransactions(_ context.Context, since time.Time, currency string) ([]payments.BalanceTransaction, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	var out []payments.BalanceTransaction
	if !strings.EqualFold(currency, sb.currency.Code) {
		return out, nil
	}
	for _, bt := range sb.books {
		if bt.Created.Unix() >= since.Unix() {
			out = append(out, bt)
		}
	}
	return out, nil
}

// Balance implements payments.Gateway: everything the books moved, at
// once available.
func (sb *Sandbox) Balance(_ context.Context, currency string) (*payments.PlatformBalance, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	b := &payments.PlatformBalance{}
	if !strings.EqualFold(currency, sb.currency.Code) {
		return b, nil
	}
	for _, bt := range sb.books {
		b.Available += bt.Net
	}
	return b, nil
}
