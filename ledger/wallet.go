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

// transactionMoves is a transaction's user-visible status machine: a
// pending one (a withdrawal's hold) completes or fails; any that is not a
// reversal already may be reversed, once.
var transactionMoves = jobsphere.Transitions[ledgertransaction.Status]{Name: "Transaction", Moves: map[ledgertransaction.Status][]ledgertransaction.Status{
	ledgertransaction.StatusPENDING:   {ledgertransaction.StatusCOMPLETED, ledgertransaction.StatusFAILED, ledgertransaction.StatusREVERSED},
	ledgertransaction.StatusCOMPLETED: {ledgertransaction.StatusREVERSED},
	ledgertransaction.StatusFAILED:    {ledgertransaction.StatusREVERSED},
}}

// MoveTransaction moves a transaction's user-visible status from from to
// to, once: of two racing callers only one wins; the loser gets CONFLICT
// ("Transaction is no longer PENDING").
func (l *Ledger) MoveTransaction(ctx context.Context, tx *ent.Client, txnID pulid.ID, from, to ledgertransaction.Status, failureReason string) error {
	return moveTransaction(ctx, tx, txnID, to, func(u *ent.LedgerTransactionUpdate) {
		u.Where(ledgertransaction.StatusEQ(from))
		if to == ledgertransaction.StatusCOMPLETED {
			u.SetCompletedAt(time.Now())
		}
		if failureReason != "" {
			u.SetFailureReason(failureReason)
		}
	}, func(ledgertransaction.Status) error {
		return jobsphere.Errorf(jobsphere.Conflict, "Transaction is no longer %s", from)
	})
}

// moveTransaction is the one way a transaction's status changes: a
// conditional update on transactionMoves.
func moveTransaction(ctx context.Context, tx *ent.Client, id pulid.ID, to ledgertransaction.Status,
	set func(*ent.LedgerTransactionUpdate), explain func(ledgertransaction.Status) error) error {
	return transactionMoves.MoveExplained(to,
		func(from []ledgertransaction.Status) (int, error) {
			u := tx.LedgerTransaction.Update().Where(ledgertransaction.ID(id), ledgertransaction.StatusIn(from...)).SetStatus(to)
			if set != nil {
				set(u)
			}
			n, err := u.Save(ctx)
			if err != nil {
				return 0, fmt.Errorf("move transaction %s to %s: %w", id, to, err)
			}
			return n, nil
		},
		func() (ledgertransaction.Status, error) {
			t, err := tx.LedgerTransaction.Get(ctx, id)
			if err != nil {
				return "", fmt.Errorf("read transaction %s: %w", id, err)
			}
			return t.Status, nil
		}, explain)
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
	err = moveTransaction(ctx, tx, orig.ID, ledgertransaction.StatusREVERSED, nil, func(ledgertransaction.Status) error {
		return jobsphere.Errorf(jobsphere.Conflict, "Transaction is already reversed")
	})
	if err != nil {
		return nil, err
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
