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
// once withdrawn, and once reinstated when the bank decides for us. The
// fee is a transaction of its own beside the customer's: the platform's
// cost, not in the customer's history.

// chargebackKey is the ledger key of one of a Stripe dispute's steps.
func chargebackKey(disputeID, step string) string { return "dispute:" + disputeID + ":" + step }

// The steps of a dispute's money.
const (
	fundsWithdrawn  = "funds-withdrawn"
	disputeFee      = "fee"
	fundsReinstated = "funds-reinstated"
	feeReturned     = "fee-returned"
)

// Chargeback posts the funds a Stripe dispute withdrew: amount from the
// customer (TakeBack: available first, the rest owed, which freezes the
// wallet) as a CHARGEBACK transaction, and the dispute fee from the
// platform (LOSSES → EXTERNAL) as another. Once per dispute: posted
// again, it replays the first result (the customer's transaction).
func (l *Ledger) Chargeback(ctx context.Context, tx *ent.Client, userID pulid.ID, disputeID string, amount, fee int64, e Entry) (*Posted, error) {
	e.Key, e.Type = chargebackKey(disputeID, fundsWithdrawn), ledgertransaction.TypeCHARGEBACK
	posted, err := l.TakeBack(ctx, tx, userID, amount, e)
	if err != nil || posted.Replayed || fee <= 0 {
		return posted, err
	}
	_, err = l.Post(ctx, tx, Entry{
		Key: chargebackKey(disputeID, disputeFee), Type: ledgertransaction.TypeCHARGEBACK,
		Description: "Stripe's dispute fee of " + l.currency.Display(fee), StripePaymentIntentID: e.StripePaymentIntentID,
		Moves: []Move{{From: Losses, To: External, Amount: fee}},
	})
	if err != nil {
		return nil, err
	}
	return posted, nil
}

// ChargebackReversal posts the funds Stripe reinstated after a dispute
// was decided for us: up to amount of what the chargeback took comes back
// — first to what the customer still owes of it, the rest to their
// available money — as a CHARGEBACK_REVERSAL transaction that reverses
// the CHARGEBACK (REVERSED); and up to feeReturned of the fee it cost
// (EXTERNAL → LOSSES) as another. Once per dispute: posted again, it
// replays the first result (the customer's transaction). A dispute with
// no funds withdrawn has nothing to reverse: an error, so that the caller
// books the withdrawal first.
func (l *Ledger) ChargebackReversal(ctx context.Context, tx *ent.Client, userID pulid.ID, disputeID string, amount, feeBack int64, e Entry) (*Posted, error) {
	withdrawn, err := tx.LedgerTransaction.Query().
		Where(ledgertransaction.IdempotencyKey(chargebackKey(disputeID, fundsWithdrawn))).WithPostings().Only(ctx)
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
	var taken, owedOfIt int64
	for _, m := range moves {
		taken += m.Amount
		if m.From == Receivable(userID) {
			owedOfIt += m.Amount
		}
	}
	amount = min(amount, taken)
	e.Key, e.Type, e.reversalOf = chargebackKey(disputeID, fundsReinstated), ledgertransaction.TypeCHARGEBACK_REVERSAL, withdrawn.ID
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
	if err := l.returnDisputeFee(ctx, tx, disputeID, feeBack, e.StripePaymentIntentID); err != nil {
		return nil, err
	}
	return posted, nil
}

// returnDisputeFee posts up to feeBack of a dispute's fee coming back to
// the platform (EXTERNAL → LOSSES): never more than the fee was.
func (l *Ledger) returnDisputeFee(ctx context.Context, tx *ent.Client, disputeID string, feeBack int64, paymentIntentID string) error {
	if feeBack <= 0 {
		return nil
	}
	fee, err := tx.LedgerTransaction.Query().Where(ledgertransaction.IdempotencyKey(chargebackKey(disputeID, disputeFee))).Only(ctx)
	if ent.IsNotFound(err) {
		return nil // Stripe charged none
	}
	if err != nil {
		return fmt.Errorf("read the dispute fee of %s: %w", disputeID, err)
	}
	back := min(feeBack, fee.Amount)
	_, err = l.Post(ctx, tx, Entry{
		Key: chargebackKey(disputeID, feeReturned), Type: ledgertransaction.TypeCHARGEBACK_REVERSAL,
		Description: "Stripe's dispute fee of " + l.currency.Display(back) + " returned", StripePaymentIntentID: paymentIntentID,
		Moves: []Move{{From: External, To: Losses, Amount: back}},
	})
	return err
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
