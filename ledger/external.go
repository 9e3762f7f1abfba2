package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgeraccount"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/posting"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// ExternalTransaction is a ledger transaction with postings against
// EXTERNAL: money that crossed the platform's edge, which the platform's
// Stripe balance should show. Reconciliation with Stripe reads them.
type ExternalTransaction struct {
	ID        pulid.ID
	Key       string
	Type      ledgertransaction.Type
	CreatedAt time.Time
	// Amount is what it says came into the platform's Stripe balance
	// (negative: went out of it): minus its postings against EXTERNAL.
	Amount                                  int64
	StripePaymentIntentID, StripeTransferID string
	ReversalOf                              pulid.ID // the transaction it reverses, if any
}

// ExternalTransactions are the transactions created at or after since
// that post against EXTERNAL, oldest first.
func (l *Ledger) ExternalTransactions(ctx context.Context, since time.Time) ([]ExternalTransaction, error) {
	txns, err := l.client.LedgerTransaction.Query().
		Where(ledgertransaction.CreatedAtGTE(since),
			ledgertransaction.HasPostingsWith(posting.HasAccountWith(ledgeraccount.KindEQ(ledgeraccount.KindEXTERNAL)))).
		WithPostings(func(q *ent.PostingQuery) {
			q.Where(posting.HasAccountWith(ledgeraccount.KindEQ(ledgeraccount.KindEXTERNAL)))
		}).
		Order(ent.Asc(ledgertransaction.FieldCreatedAt), ent.Asc(ledgertransaction.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the transactions against external since %s: %w", since.Format(time.RFC3339), err)
	}
	out := make([]ExternalTransaction, 0, len(txns))
	for _, t := range txns {
		x := ExternalTransaction{
			ID: t.ID, Key: t.IdempotencyKey, Type: t.Type, CreatedAt: t.CreatedAt,
			StripePaymentIntentID: deref(t.StripePaymentIntentID), StripeTransferID: deref(t.StripeTransferID),
			ReversalOf: deref(t.ReversalOfID),
		}
		for _, p := range t.Edges.Postings {
			x.Amount -= p.Amount
		}
		out = append(out, x)
	}
	return out, nil
}

// ExternalBalance is what the ledger says the outside world holds of the
// platform's money: minus EXTERNAL's balance, every posting ever made.
// With Stripe the only way in and out, it is what the platform's Stripe
// balance should hold before Stripe's own fees.
func (l *Ledger) ExternalBalance(ctx context.Context) (int64, error) {
	var sum sums
	err := l.client.Posting.Query().Where(posting.HasAccountWith(ledgeraccount.KindEQ(ledgeraccount.KindEXTERNAL))).
		Aggregate(ent.As(ent.Sum(posting.FieldAmount), "a")).Scan(ctx, &sum)
	if err != nil {
		return 0, fmt.Errorf("sum the postings against external: %w", err)
	}
	return -sum.a(), nil
}
