package ledger

import (
	"context"

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
