package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/wallet"
)

// Wallet returns a user's wallet.
func (l *Ledger) Wallet(ctx context.Context, userID pulid.ID) (*ent.Wallet, error) {
	w, err := l.client.Wallet.Query().Where(wallet.UserID(userID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, jobsphere.Errorf(jobsphere.NotFound, "Wallet not found")
	}
	return w, err
}

// AdjustPending moves a wallet's pending deposits by delta: up when a
// Stripe payment starts, down when it is confirmed or fails. Pending money
// is not the user's yet, so it has no postings; it never goes below zero.
func (l *Ledger) AdjustPending(ctx context.Context, tx *ent.Client, userID pulid.ID, delta int64) error {
	u := tx.Wallet.Update().Where(wallet.UserID(userID)).AddPendingDeposits(delta)
	if delta < 0 {
		u.Where(wallet.PendingDepositsGTE(-delta))
	}
	n, err := u.Save(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("ledger: pending deposits of %s cannot change by %d", userID, delta)
	}
	return nil
}

// SetStatus moves a transaction's user-visible status, once: from must
// still be its status (a conditional update), so of two racing callers
// only one wins; the loser gets CONFLICT.
func (l *Ledger) SetStatus(ctx context.Context, tx *ent.Client, txnID pulid.ID, from, to ledgertransaction.Status, failureReason string) error {
	u := tx.LedgerTransaction.Update().
		Where(ledgertransaction.ID(txnID), ledgertransaction.StatusEQ(from)).
		SetStatus(to)
	if to == ledgertransaction.StatusCOMPLETED {
		u.SetCompletedAt(time.Now())
	}
	if failureReason != "" {
		u.SetFailureReason(failureReason)
	}
	n, err := u.Save(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return jobsphere.Errorf(jobsphere.Conflict, "Transaction is no longer %s", from)
	}
	return nil
}

// Reverse posts the exact opposite of a transaction, under key, and marks
// the original REVERSED. A transaction is reversed at most once (the
// reversal's link to it is unique); reversing it again with the same key
// replays, with another key is CONFLICT.
func (l *Ledger) Reverse(ctx context.Context, tx *ent.Client, txnID pulid.ID, key, description string) (*Posted, error) {
	orig, err := tx.LedgerTransaction.Query().Where(ledgertransaction.ID(txnID)).WithPostings().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, jobsphere.Errorf(jobsphere.NotFound, "Transaction not found")
	}
	if err != nil {
		return nil, err
	}
	moves, err := l.movesOf(ctx, tx, orig.Edges.Postings)
	if err != nil {
		return nil, err
	}
	for i, m := range moves {
		moves[i] = Move{From: m.To, To: m.From, Amount: m.Amount}
	}
	e := Entry{
		Key: key, Type: orig.Type, Description: description, Moves: moves,
		JobID: deref(orig.JobID), OfferID: deref(orig.OfferID), ContractID: deref(orig.ContractID),
		reversalOf: orig.ID,
	}
	if prior, err := l.priorPosting(ctx, tx, key, e.requestHash()); prior != nil || err != nil {
		return prior, err
	}
	if orig.ReversalOfID != nil {
		return nil, jobsphere.Errorf(jobsphere.Conflict, "A reversal cannot be reversed; post a new transaction")
	}
	n, err := tx.LedgerTransaction.Update().
		Where(ledgertransaction.ID(orig.ID), ledgertransaction.StatusNEQ(ledgertransaction.StatusREVERSED)).
		SetStatus(ledgertransaction.StatusREVERSED).Save(ctx)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, jobsphere.Errorf(jobsphere.Conflict, "Transaction is already reversed")
	}
	return l.Post(ctx, tx, e)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// SetFrozen freezes a user's wallet, or lifts the freeze, in the caller's
// transaction (tx is its client): a frozen wallet refuses spends and
// withdrawals (WALLET_FROZEN); money can still come in.
func (l *Ledger) SetFrozen(ctx context.Context, tx *ent.Client, userID pulid.ID, frozen bool, reason string) error {
	u := tx.Wallet.Update().Where(wallet.UserID(userID)).SetIsFrozen(frozen)
	if frozen {
		u.SetFrozenReason(reason)
	} else {
		u.ClearFrozenReason()
	}
	n, err := u.Save(ctx)
	if err != nil {
		return fmt.Errorf("set wallet of %s frozen %v: %w", userID, frozen, err)
	}
	if n == 0 {
		return jobsphere.Errorf(jobsphere.NotFound, "Wallet not found")
	}
	return nil
}
