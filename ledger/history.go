package ledger

import (
	"context"
	"fmt"

	"entgo.io/contrib/entgql"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// Page sizes of the transaction history: the seeds' default and maximum.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// HistoryPage asks for one page of a user's history (Relay arguments).
type HistoryPage struct {
	First, Last   *int
	After, Before *ent.Cursor
	Type          *ledgertransaction.Type
}

// History pages the transactions a user paid or received, newest first.
func (l *Ledger) History(ctx context.Context, userID pulid.ID, p HistoryPage) (*ent.TransactionConnection, error) {
	for _, n := range []*int{p.First, p.Last} {
		if n != nil && (*n < 0 || *n > MaxPageSize) {
			return nil, jobsphere.InvalidInput(jobsphere.FieldError{Field: "first", Message: "Page size must be between 0 and 100"})
		}
	}
	if p.First == nil && p.Last == nil {
		n := DefaultPageSize
		p.First = &n
	}
	q := l.client.LedgerTransaction.Query().Where(ledgertransaction.Or(
		ledgertransaction.FromUserID(userID), ledgertransaction.ToUserID(userID)))
	if p.Type != nil {
		q.Where(ledgertransaction.TypeEQ(*p.Type))
	}
	// Ids are ULIDs, ordered by creation time: newest first is id
	// descending, a total order that pages without ties.
	return q.Paginate(ctx, p.After, p.First, p.Before, p.Last, ent.WithTransactionOrder(&ent.TransactionOrder{
		Direction: entgql.OrderDirectionDesc, Field: ent.DefaultTransactionOrder.Field,
	}))
}

// PaidBy is the user a Stripe PaymentIntent paid in (the user credited by
// the DEPOSIT that records it: a wallet deposit or a job Checkout), or ""
// when no posting records it (yet).
func (l *Ledger) PaidBy(ctx context.Context, tx *ent.Client, paymentIntentID string) (pulid.ID, error) {
	t, err := tx.LedgerTransaction.Query().
		Where(ledgertransaction.TypeEQ(ledgertransaction.TypeDEPOSIT), ledgertransaction.StripePaymentIntentID(paymentIntentID),
			ledgertransaction.ToUserIDNotNil()).
		First(ctx)
	if ent.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the payment of %s: %w", paymentIntentID, err)
	}
	return *t.ToUserID, nil
}

// TotalPosted is the sum of the transactions whose keys start with prefix:
// what was posted so far for one cause that is booked in steps.
func (l *Ledger) TotalPosted(ctx context.Context, tx *ent.Client, prefix string) (int64, error) {
	var sum sums
	err := tx.LedgerTransaction.Query().Where(ledgertransaction.IdempotencyKeyHasPrefix(prefix)).
		Aggregate(ent.As(ent.Sum(ledgertransaction.FieldAmount), "a")).Scan(ctx, &sum)
	if err != nil {
		return 0, fmt.Errorf("sum the transactions of %s: %w", prefix, err)
	}
	return sum.a(), nil
}
