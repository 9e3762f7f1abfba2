package sandbox

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/sandboxbalancetransaction"
	"github.com/jobsphere/jobsphere/payments"
)

// The sandbox keeps the platform balance's movements as Stripe does — a
// balance transaction for each charge (less Stripe's card fee), refund,
// transfer and dispute step (with the dispute fee) — so that the embedded
// default reconciles too. Unlike its other records they live in the
// database (SandboxBalanceTransaction): what `jobsphere seed` paid, what a
// server took before its restart and what `jobsphere reconcile` reads are
// the same books.

// CardFee is the fee the sandbox keeps of a card payment, as Stripe's
// standard pricing does: 2.9% (rounded) plus 30 minor units.
func CardFee(amount int64) int64 { return (amount*290+5000)/10000 + 30 }

// book records a movement of the platform's balance in the sandbox's
// currency; an empty ID gets a fresh one.
func (sb *Sandbox) book(ctx context.Context, bt payments.BalanceTransaction) error {
	if bt.ID == "" {
		bt.ID = "txn_sandbox_" + ulidOf("x")
	}
	err := sb.db.SandboxBalanceTransaction.Create().SetStripeID(bt.ID).SetType(bt.Type).SetCurrency(sb.currency.Code).
		SetAmount(bt.Amount).SetFee(bt.Fee).SetSourceID(bt.SourceID).SetPaymentIntentID(bt.PaymentIntentID).
		SetTransferID(bt.TransferID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("sandbox: book %s %s: %w", bt.Type, bt.SourceID, err)
	}
	return nil
}

// bookMade records a movement that has happened already (the server has
// recorded its event): a failure to book it cannot undo it, so it is
// logged, and reconciliation reports the movement missing from the books.
func (sb *Sandbox) bookMade(ctx context.Context, bt payments.BalanceTransaction) {
	if err := sb.book(ctx, bt); err != nil {
		sb.logger.ErrorContext(ctx, "sandbox: a movement made is not in the books", "type", bt.Type, "source", bt.SourceID, "err", err)
	}
}

// bookRefund records a refund of a payment, made. Stripe keeps the
// payment's card fee.
func (sb *Sandbox) bookRefund(ctx context.Context, refundID, paymentIntentID string, amount int64) {
	sb.bookMade(ctx, payments.BalanceTransaction{Type: payments.BalanceRefund, Amount: -amount, SourceID: refundID, PaymentIntentID: paymentIntentID})
}

// BalanceTransactions implements payments.Gateway from the sandbox's
// books, oldest first; since is taken at Stripe's precision (whole
// seconds).
func (sb *Sandbox) BalanceTransactions(ctx context.Context, since time.Time, currency string) ([]payments.BalanceTransaction, error) {
	rows, err := sb.db.SandboxBalanceTransaction.Query().
		Where(sandboxbalancetransaction.CurrencyEqualFold(currency), sandboxbalancetransaction.CreatedAtGTE(since.Truncate(time.Second))).
		Order(ent.Asc(sandboxbalancetransaction.FieldCreatedAt), ent.Asc(sandboxbalancetransaction.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("sandbox: list balance transactions: %w", err)
	}
	out := make([]payments.BalanceTransaction, len(rows))
	for i, r := range rows {
		out[i] = payments.BalanceTransaction{ID: r.StripeID, Type: r.Type, Amount: r.Amount, Fee: r.Fee, Net: r.Amount - r.Fee,
			SourceID: r.SourceID, PaymentIntentID: r.PaymentIntentID, TransferID: r.TransferID, Created: r.CreatedAt}
	}
	return out, nil
}

// Balance implements payments.Gateway: everything the books moved, at
// once available.
func (sb *Sandbox) Balance(ctx context.Context, currency string) (*payments.PlatformBalance, error) {
	var sums []struct {
		Amount sql.NullInt64 `json:"amount"` // NULL: no books yet
		Fee    sql.NullInt64 `json:"fee"`
	}
	err := sb.db.SandboxBalanceTransaction.Query().Where(sandboxbalancetransaction.CurrencyEqualFold(currency)).
		Aggregate(ent.As(ent.Sum(sandboxbalancetransaction.FieldAmount), "amount"), ent.As(ent.Sum(sandboxbalancetransaction.FieldFee), "fee")).
		Scan(ctx, &sums)
	if err != nil {
		return nil, fmt.Errorf("sandbox: sum the books: %w", err)
	}
	b := &payments.PlatformBalance{}
	for _, s := range sums {
		b.Available += s.Amount.Int64 - s.Fee.Int64
	}
	return b, nil
}
