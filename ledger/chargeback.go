package ledger

import (
	"context"
	"fmt"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// A card chargeback takes a payment back out of the platform's Stripe
// balance, with Stripe's dispute fee. The customer bears the amount — their
// available money first, what it cannot cover they owe — and the platform
// the fee (LOSSES). Money held in escrow or paid to a contractor is never
// touched: the contractor is protected, the platform carries the risk.
// Each Stripe dispute moves money at most twice, under keys of its id:
// once withdrawn, and once reinstated when the bank decides for us.

// ChargebackKey is the ledger key of a Stripe dispute's funds withdrawn
// (reinstated: the reversal's).
func ChargebackKey(disputeID string, reinstated bool) string {
	if reinstated {
		return "dispute:" + disputeID + ":funds-reinstated"
	}
	return "dispute:" + disputeID + ":funds-withdrawn"
}

// Chargeback posts the funds a Stripe dispute withdrew: amount from the
// customer (TakeBack: available first, the rest owed, which freezes the
// wallet) and the dispute fee from the platform (LOSSES → EXTERNAL), as
// one CHARGEBACK transaction. Once per dispute: posted again, it replays
// the first result.
func (l *Ledger) Chargeback(ctx context.Context, tx *ent.Client, userID pulid.ID, disputeID string, amount, fee int64, e Entry) (*Posted, error) {
	e.Key, e.Type, e.Moves = ChargebackKey(disputeID, false), ledgertransaction.TypeCHARGEBACK, nil
	if fee > 0 {
		e.Moves = []Move{{From: Losses, To: External, Amount: fee}}
	}
	return l.TakeBack(ctx, tx, userID, amount, e)
}

// ChargebackReversal posts the funds Stripe reinstated after a dispute
// was decided for us: up to amount of what the chargeback took comes back
// — first to what the customer still owes of it, the rest to their
// available money — and up to feeReturned of the fee it cost (EXTERNAL →
// LOSSES), as one CHARGEBACK_REVERSAL transaction that reverses the
// CHARGEBACK (REVERSED). Once per dispute. A dispute with no funds
// withdrawn has nothing to reverse: an error, so that the caller books
// the withdrawal first.
func (l *Ledger) ChargebackReversal(ctx context.Context, tx *ent.Client, userID pulid.ID, disputeID string, amount, feeReturned int64, e Entry) (*Posted, error) {
	withdrawn, err := tx.LedgerTransaction.Query().
		Where(ledgertransaction.IdempotencyKey(ChargebackKey(disputeID, false))).WithPostings().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fmt.Errorf("ledger: no funds withdrawn for dispute %s to reinstate", disputeID)
	}
	if err != nil {
		return nil, fmt.Errorf("read the chargeback of %s: %w", disputeID, err)
	}
	moves, err := l.movesOf(ctx, tx, withdrawn.Edges.Postings)
	if err != nil {
		return nil, fmt.Errorf("read the chargeback of %s: %w", disputeID, err)
	}
	var taken, owedOfIt, fee int64
	for _, m := range moves {
		switch m.From {
		case Available(userID):
			taken += m.Amount
		case Receivable(userID):
			taken += m.Amount
			owedOfIt += m.Amount
		case Losses:
			fee += m.Amount
		}
	}
	amount, feeReturned = min(amount, taken), min(feeReturned, fee)
	e.Key, e.Type, e.Moves, e.reversalOf = ChargebackKey(disputeID, true), ledgertransaction.TypeCHARGEBACK_REVERSAL, nil, withdrawn.ID
	if feeReturned > 0 {
		e.Moves = []Move{{From: External, To: Losses, Amount: feeReturned}}
	}
	posted, err := l.postSplit(ctx, tx, userID, e, func(w *ent.Wallet) []Move {
		return split(amount, min(owedOfIt, w.AmountOwed),
			Move{From: External, To: Receivable(userID)}, Move{From: External, To: Available(userID)})
	})
	if err != nil || posted == nil || posted.Replayed {
		return posted, err
	}
	err = moveTransaction(ctx, tx, withdrawn.ID, ledgertransaction.StatusREVERSED, nil, func(ledgertransaction.Status) error {
		return jobsphere.Errorf(jobsphere.Conflict, "The chargeback of %s is already reversed", disputeID)
	})
	if err != nil {
		return nil, err
	}
	return posted, nil
}

// RefundToCard posts up to upTo of a user's available money out to the
// card it came from (AVAILABLE → EXTERNAL): what the balance holds, read
// under its lock, up to upTo; nil when it holds nothing. A freeze does not
// stop it (Entry.Forced): the money goes back where it came from, which
// is what a fraud warning asks for. A key posted before replays.
func (l *Ledger) RefundToCard(ctx context.Context, tx *ent.Client, userID pulid.ID, upTo int64, e Entry) (*Posted, error) {
	e.Forced = true
	return l.postSplit(ctx, tx, userID, e, func(w *ent.Wallet) []Move {
		if n := min(upTo, w.Balance); n > 0 {
			return []Move{{From: Available(userID), To: External, Amount: n}}
		}
		return nil
	})
}
