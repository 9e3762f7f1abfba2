package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/chargeback"
	"github.com/jobsphere/jobsphere/ent/fraudwarning"
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
// the original REVERSED. A transaction is reversed at most once (the mark
// is a conditional move, of which two racing reversals win one); reversing
// it again with the same key replays, with another key is CONFLICT.
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
	if prior, err := l.priorPosting(ctx, tx, e, e.requestHash()); prior != nil || err != nil {
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

// A wallet is frozen while a reason holds: ADMIN while an admin's freeze
// note is set; CHARGEBACK while the user owes money (their RECEIVABLE is
// below zero) or has a chargeback case open; FRAUD_WARNING while an early
// fraud warning on one of their payments is unresolved. frozen_reason
// shows one — CHARGEBACK, then FRAUD_WARNING, then ADMIN: the ones an
// admin cannot lift first — and is_frozen says any holds; every change of
// a reason sets both, in the same update.

// holds are the reasons a wallet may be frozen for.
type holds struct {
	note       *string // the admin's; nil: no admin freeze
	owed       int64
	chargeback bool // a chargeback case is open
	fraud      bool // an early fraud warning is unresolved
}

func holdsOf(w *ent.Wallet) holds {
	return holds{note: w.FrozenNote, owed: w.AmountOwed, chargeback: w.ChargebackOpen, fraud: w.FraudWarningOpen}
}

// reason is the reason shown for the holds; nil when none holds.
func (h holds) reason() *wallet.FrozenReason {
	var r wallet.FrozenReason
	switch {
	case h.owed > 0 || h.chargeback:
		r = wallet.FrozenReasonCHARGEBACK
	case h.fraud:
		r = wallet.FrozenReasonFRAUD_WARNING
	case h.note != nil:
		r = wallet.FrozenReasonADMIN
	default:
		return nil
	}
	return &r
}

func setFreeze(u *ent.WalletUpdate, reason *wallet.FrozenReason) {
	u.SetIsFrozen(reason != nil).SetNillableFrozenReason(reason)
	if reason == nil {
		u.ClearFrozenReason()
	}
}

// AcceptsDeposits says whether a wallet takes new deposits: not while an
// admin has frozen it, nor while an early fraud warning is unresolved (the
// card may not be the payer's); a wallet frozen for CHARGEBACK does, since
// a deposit pays back what is owed first (CreditFromOutside).
func AcceptsDeposits(w *ent.Wallet) error {
	if w.FrozenNote != nil || w.FraudWarningOpen {
		return ErrWalletFrozen()
	}
	return nil
}

// SetAdminFreeze freezes a user's wallet for ADMIN with the admin's note,
// or (note nil) lifts that freeze, in the caller's transaction (tx is its
// client): a frozen wallet refuses spends and withdrawals (WALLET_FROZEN);
// money can still come in. Only the ADMIN reason is an admin's to lift: a
// wallet frozen for CHARGEBACK and not by an admin is CONFLICT, saying
// so; one frozen for both stays frozen for CHARGEBACK. It reports whether
// the wallet is frozen afterwards.
func (l *Ledger) SetAdminFreeze(ctx context.Context, tx *ent.Client, userID pulid.ID, note *string) (frozen bool, err error) {
	cur, err := l.LockWallet(ctx, tx, userID)
	if ent.IsNotFound(err) {
		return false, jobsphere.Errorf(jobsphere.NotFound, "Wallet not found")
	}
	if err != nil {
		return false, err
	}
	h := holdsOf(cur)
	if note == nil && cur.FrozenNote == nil {
		if err := l.notAnAdminsFreeze(h); err != nil {
			return true, err
		}
	}
	h.note = note
	reason := h.reason()
	u := tx.Wallet.Update().Where(wallet.ID(cur.ID), wallet.AmountOwedEQ(cur.AmountOwed)).SetNillableFrozenNote(note)
	if note == nil {
		u.ClearFrozenNote()
	}
	setFreeze(u, reason)
	n, err := u.Save(ctx)
	if err != nil {
		return false, fmt.Errorf("set admin freeze of %s's wallet: %w", userID, err)
	}
	if n == 0 {
		return false, fmt.Errorf("ledger: wallet %s changed under its lock", cur.ID)
	}
	return reason != nil, nil
}

// notAnAdminsFreeze says why a wallet with holds h and no admin freeze
// stays frozen (CONFLICT), or nil when it is not frozen.
func (l *Ledger) notAnAdminsFreeze(h holds) error {
	switch {
	case h.chargeback:
		return jobsphere.Errorf(jobsphere.Conflict,
			"Wallet is frozen for CHARGEBACK: it is lifted when the chargeback is closed and nothing is owed (%s is owed)", l.currency.Display(h.owed))
	case h.owed > 0:
		return jobsphere.Errorf(jobsphere.Conflict,
			"Wallet is frozen for CHARGEBACK: it is lifted when nothing is owed (%s is owed)", l.currency.Display(h.owed))
	case h.fraud:
		return jobsphere.Errorf(jobsphere.Conflict,
			"Wallet is frozen for FRAUD_WARNING: it is lifted when the warned payment is refunded (refundDeposit) or disputed")
	}
	return nil
}

// RefreshCaseHolds sets the CHARGEBACK and FRAUD_WARNING holds of a user's
// wallet from their cases as tx sees them — a chargeback OPEN, an early
// fraud warning unresolved — and the freeze with them. Call it in the
// transaction that changes a case, after the change, with the wallet
// locked before the case was read (LockWallet). It reports whether the
// wallet was frozen before and is after.
func (l *Ledger) RefreshCaseHolds(ctx context.Context, tx *ent.Client, userID pulid.ID) (wasFrozen, frozen bool, err error) {
	cur, err := l.LockWallet(ctx, tx, userID)
	if err != nil {
		return false, false, err
	}
	h := holdsOf(cur)
	if h.chargeback, err = tx.Chargeback.Query().Where(chargeback.CustomerID(userID), chargeback.StatusEQ(chargeback.StatusOPEN)).Exist(ctx); err != nil {
		return false, false, fmt.Errorf("read open chargebacks of %s: %w", userID, err)
	}
	if h.fraud, err = tx.FraudWarning.Query().Where(fraudwarning.CustomerID(userID), fraudwarning.ResolvedAtIsNil()).Exist(ctx); err != nil {
		return false, false, fmt.Errorf("read open fraud warnings of %s: %w", userID, err)
	}
	if h == holdsOf(cur) {
		return cur.IsFrozen, cur.IsFrozen, nil
	}
	u := tx.Wallet.Update().Where(wallet.ID(cur.ID), wallet.AmountOwedEQ(cur.AmountOwed)).
		SetChargebackOpen(h.chargeback).SetFraudWarningOpen(h.fraud)
	reason := h.reason()
	setFreeze(u, reason)
	n, err := u.Save(ctx)
	if err != nil {
		return false, false, fmt.Errorf("set the case holds of %s's wallet: %w", userID, err)
	}
	if n == 0 {
		return false, false, fmt.Errorf("ledger: wallet %s changed under its lock", cur.ID)
	}
	return cur.IsFrozen, reason != nil, nil
}
