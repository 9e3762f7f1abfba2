package payments

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"entgo.io/contrib/entgql"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/audit"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/connectaccount"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/predicate"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/withdrawal"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/market"
	"github.com/jobsphere/jobsphere/realtime"
)

// WithdrawInput is a contractor's withdrawal request.
type WithdrawInput struct {
	Amount int64
	// IdempotencyKey, when the client sends one, makes a retried request
	// return the withdrawal the first one made.
	IdempotencyKey *string
}

// WithdrawResult is what withdraw returns.
type WithdrawResult struct {
	Withdrawal       *ent.Withdrawal
	Wallet           *ent.Wallet
	EstimatedArrival string
}

// Withdraw moves a contractor's available money to held at once (the
// withdrawal is PENDING) and, unless an admin must approve, transfers it
// to their verified Connect account. If Stripe refuses the transfer, the
// hold comes back and the withdrawal is FAILED with Stripe's reason.
func (s *Service) Withdraw(ctx context.Context, v auth.Viewer, in WithdrawInput) (*WithdrawResult, error) {
	if v.Role != role.Contractor {
		return nil, jobsphere.Errorf(jobsphere.Forbidden, "Only contractors can withdraw funds")
	}
	if err := jobsphere.CheckLengths(jobsphere.TextLimit{Field: "idempotencyKey", Label: "Idempotency key",
		Text: in.IdempotencyKey, Max: jobsphere.MaxKeyLength}); err != nil {
		return nil, err
	}
	if in.IdempotencyKey != nil {
		prior, err := s.client.Withdrawal.Query().
			Where(withdrawal.UserID(v.UserID), withdrawal.RequestKey(*in.IdempotencyKey)).Only(ctx)
		if err == nil {
			if prior.Amount != in.Amount {
				return nil, jobsphere.Errorf(jobsphere.Conflict, "This request was already made with different details")
			}
			// A retry finishes what the first request may not have:
			// the transfer it started, or the one it never got to.
			if prior.Status == withdrawal.StatusPENDING && (prior.TransferStartedAt != nil || !s.cfg.RequireWithdrawalApproval) {
				if err := s.payOut(ctx, prior.ID, false, ""); err != nil && jobsphere.ErrorCode(err) != jobsphere.Conflict {
					return nil, err
				}
			}
			return s.withdrawResult(ctx, prior.ID)
		}
		if !ent.IsNotFound(err) {
			return nil, fmt.Errorf("find prior withdrawal: %w", err)
		}
	}
	if err := s.checkWithdrawal(ctx, v.UserID, in.Amount); err != nil {
		return nil, err
	}
	var w *ent.Withdrawal
	err := s.client.WithTx(ctx, func(tx *ent.Tx) error {
		var err error
		// The key first: a concurrent request with the same key waits
		// here for this one, then replays it; and only a request that
		// takes a new key counts in the limit.
		w, err = tx.Withdrawal.Create().SetUserID(v.UserID).SetAmount(in.Amount).
			SetNillableRequestKey(in.IdempotencyKey).Save(ctx)
		if ent.IsConstraintError(err) {
			return errDuplicateRequest
		}
		if err != nil {
			return fmt.Errorf("insert withdrawal: %w", err)
		}
		if err := s.limiter.AllowIn(ctx, tx.Client(), auth.WithdrawLimit, string(v.UserID)); err != nil {
			return err
		}
		posted, err := s.ledger.Post(ctx, tx.Client(), ledger.Entry{
			Key: "withdrawal:" + string(w.ID) + ":hold", Type: ledgertransaction.TypeWITHDRAWAL,
			Status:      ledgertransaction.StatusPENDING,
			Description: "Withdrawal of " + s.cfg.Currency.Display(in.Amount) + " to your bank account",
			Moves:       []ledger.Move{{From: ledger.Available(v.UserID), To: ledger.Escrow(v.UserID), Amount: in.Amount}},
		})
		if err != nil {
			return fmt.Errorf("hold withdrawal %s: %w", w.ID, err)
		}
		if err := tx.Withdrawal.UpdateOne(w).SetTransactionID(posted.Transaction.ID).Exec(ctx); err != nil {
			return fmt.Errorf("record hold of withdrawal %s: %w", w.ID, err)
		}
		return s.publishWithdrawal(ctx, tx, w.UserID, w.ID)
	})
	if errors.Is(err, errDuplicateRequest) { // the same key, concurrently
		return s.Withdraw(ctx, v, in)
	}
	if err != nil {
		return nil, err
	}
	if !s.cfg.RequireWithdrawalApproval {
		// A CONFLICT here is a replay of this request that claimed the
		// transfer first: it finishes it, and this answers as it stands.
		if err := s.payOut(ctx, w.ID, true, ""); err != nil && jobsphere.ErrorCode(err) != jobsphere.Conflict {
			return nil, err
		}
	}
	return s.withdrawResult(ctx, w.ID)
}

var errDuplicateRequest = errors.New("payments: duplicate withdrawal request")

// checkWithdrawal applies the seeds' rules, each with its own message.
func (s *Service) checkWithdrawal(ctx context.Context, userID pulid.ID, amount int64) error {
	if amount < s.cfg.MinWithdrawal || amount > s.cfg.MaxWithdrawal {
		return jobsphere.InvalidInput(jobsphere.FieldError{Field: "amount", Message: "Amount must be between " +
			s.cfg.Currency.Display(s.cfg.MinWithdrawal) + " and " + s.cfg.Currency.Display(s.cfg.MaxWithdrawal)})
	}
	wal, err := s.ledger.Wallet(ctx, userID)
	if err != nil {
		return err
	}
	if wal.IsFrozen {
		return ledger.ErrWalletFrozen()
	}
	if wal.Balance < amount {
		return &jobsphere.Error{Code: jobsphere.InsufficientFunds,
			Message: "Insufficient balance. Available: " + s.cfg.Currency.Display(wal.Balance),
			Fields:  []jobsphere.FieldError{{Field: "amount", Message: "Available: " + s.cfg.Currency.Display(wal.Balance)}}}
	}
	a, err := s.client.ConnectAccount.Query().Where(connectaccount.UserID(userID)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return jobsphere.Errorf(jobsphere.Conflict, "Please complete Stripe Connect onboarding")
	case err != nil:
		return err
	case a.Status == connectaccount.StatusPENDING:
		return jobsphere.Errorf(jobsphere.Conflict, "Stripe Connect account is pending verification")
	case a.Status == connectaccount.StatusDISCONNECTED:
		return jobsphere.Errorf(jobsphere.Conflict, "Please reconnect your Stripe account")
	case a.Status != connectaccount.StatusVERIFIED || !a.PayoutsEnabled:
		return jobsphere.Errorf(jobsphere.Conflict, "Your Stripe account is not fully activated")
	}
	return nil
}

// payOut transfers a PENDING withdrawal to the contractor's Connect
// account. It first commits a claim on the withdrawal (transfer_started_at):
// from then on no admin can reject it and give the money back, so a process
// killed after Stripe made the transfer cannot pay twice. Then it asks
// Stripe, with the withdrawal's key: a retry (the client's, with its
// idempotencyKey, or SweepTransfers) transfers once. Stripe's refusal fails
// the withdrawal and returns the money; an answer that may hide a transfer
// made (a timeout) leaves it PENDING for the retry. fresh: only a first
// claim will do (a first request, an admin's approval), not a retry of one.
// approver is the admin who approved, recorded in the audit log with the
// claim; "" when no admin did.
func (s *Service) payOut(ctx context.Context, id pulid.ID, fresh bool, approver pulid.ID) error {
	var w *ent.Withdrawal
	err := s.client.WithTx(ctx, func(tx *ent.Tx) error {
		n, err := tx.Withdrawal.Update().
			Where(withdrawal.ID(id), withdrawal.StatusEQ(withdrawal.StatusPENDING), withdrawal.TransferStartedAtIsNil()).
			SetTransferStartedAt(time.Now()).Save(ctx)
		if err != nil {
			return fmt.Errorf("claim withdrawal %s: %w", id, err)
		}
		if w, err = tx.Withdrawal.Get(ctx, id); err != nil {
			return fmt.Errorf("read withdrawal %s: %w", id, err)
		}
		if n == 0 && (fresh || w.Status != withdrawal.StatusPENDING) {
			return withdrawalConflict(w)
		}
		if approver == "" {
			return nil
		}
		return audit.Record(ctx, tx.Client(), audit.Entry{Actor: approver, Action: audit.ApproveWithdrawal, Target: id,
			Before: withdrawal.StatusPENDING.String(), After: transferStarted})
	})
	if err != nil {
		return err
	}
	a, err := s.client.ConnectAccount.Query().Where(connectaccount.UserID(w.UserID)).Only(ctx)
	if err != nil {
		return fmt.Errorf("read connect account of withdrawal %s: %w", w.ID, err)
	}
	transferID, terr := s.gateway.CreateTransfer(ctx, TransferParams{
		IdempotencyKey: "withdrawal:" + string(w.ID), Amount: w.Amount, Currency: s.cfg.Currency.Code,
		Destination: a.StripeAccountID, Metadata: map[string]string{"withdrawal_id": string(w.ID), "user_id": string(w.UserID)},
	})
	if terr != nil && !gatewayRefused(terr) {
		s.logger.WarnContext(ctx, "transfer unsure: left PENDING for a retry", "withdrawal", w.ID, "err", terr)
		return nil
	}
	if terr != nil {
		s.logger.WarnContext(ctx, "transfer refused", "withdrawal", w.ID, "err", terr)
		return s.client.WithTx(ctx, func(tx *ent.Tx) error {
			return s.endWithdrawal(ctx, tx, w, withdrawal.StatusFAILED, transferFailure(terr), nil)
		})
	}
	return s.client.WithTx(ctx, func(tx *ent.Tx) error {
		if err := moveWithdrawal(ctx, tx, w, withdrawal.StatusCOMPLETED, func(u *ent.WithdrawalUpdate) {
			u.SetStripeTransferID(transferID).SetCompletedAt(time.Now())
		}); err != nil {
			return err
		}
		if _, err := s.ledger.Post(ctx, tx.Client(), ledger.Entry{
			Key: "withdrawal:" + string(w.ID) + ":payout", Type: ledgertransaction.TypeWITHDRAWAL,
			Description: "Payout to your bank account", StripeTransferID: transferID,
			Moves: []ledger.Move{{From: ledger.Escrow(w.UserID), To: ledger.External, Amount: w.Amount}},
		}); err != nil {
			return fmt.Errorf("post payout of withdrawal %s: %w", w.ID, err)
		}
		if w.TransactionID != nil {
			if err := s.ledger.MoveTransaction(ctx, tx.Client(), *w.TransactionID, ledgertransaction.StatusPENDING, ledgertransaction.StatusCOMPLETED, ""); err != nil {
				return fmt.Errorf("complete hold of withdrawal %s: %w", w.ID, err)
			}
		}
		return s.publishWithdrawal(ctx, tx, w.UserID, w.ID)
	})
}

// SweepTransfers finishes payouts whose process stopped between asking
// Stripe and recording the answer, once their claim is older than grace.
// It returns how many it tried.
func (s *Service) SweepTransfers(ctx context.Context, grace time.Duration) (int, error) {
	stuck, err := s.client.Withdrawal.Query().Where(withdrawal.StatusEQ(withdrawal.StatusPENDING),
		withdrawal.TransferStartedAtLT(time.Now().Add(-grace))).IDs(ctx)
	if err != nil {
		return 0, fmt.Errorf("find interrupted transfers: %w", err)
	}
	for i, id := range stuck {
		if err := s.payOut(ctx, id, false, ""); err != nil && jobsphere.ErrorCode(err) != jobsphere.Conflict {
			return i, fmt.Errorf("finish withdrawal %s: %w", id, err)
		}
	}
	return len(stuck), nil
}

// transferStarted is an approved withdrawal's state in the audit log: still
// PENDING, its transfer asked for; Stripe's answer makes it COMPLETED or
// FAILED.
const transferStarted = "PENDING (transfer started)"

func withdrawalConflict(w *ent.Withdrawal) error {
	if w.Status == withdrawal.StatusPENDING && w.TransferStartedAt != nil {
		return jobsphere.Errorf(jobsphere.Conflict, "A transfer is in progress for this withdrawal")
	}
	return jobsphere.Errorf(jobsphere.Conflict, "Withdrawal is %s", w.Status)
}

func transferFailure(err error) string {
	var r *RefusedError
	if errors.As(err, &r) && r.Message != "" {
		return "Transfer failed: " + r.Message
	}
	return "Transfer failed"
}

// endWithdrawal ends a PENDING withdrawal without paying it (FAILED or
// REJECTED): the held money returns to the available balance.
func (s *Service) endWithdrawal(ctx context.Context, tx *ent.Tx, w *ent.Withdrawal, to withdrawal.Status, reason string, reviewer *pulid.ID, only ...predicate.Withdrawal) error {
	if err := moveWithdrawal(ctx, tx, w, to, func(u *ent.WithdrawalUpdate) {
		u.SetFailureReason(reason).SetNillableReviewedByID(reviewer)
	}, only...); err != nil {
		return err
	}
	if _, err := s.ledger.Post(ctx, tx.Client(), ledger.Entry{
		Key: "withdrawal:" + string(w.ID) + ":release", Type: ledgertransaction.TypeWITHDRAWAL,
		Status: ledgertransaction.StatusFAILED, Description: "Withdrawal " + strings.ToLower(string(to)) + ": " + reason,
		Moves: []ledger.Move{{From: ledger.Escrow(w.UserID), To: ledger.Available(w.UserID), Amount: w.Amount}},
	}); err != nil {
		return fmt.Errorf("release hold of withdrawal %s: %w", w.ID, err)
	}
	if w.TransactionID != nil {
		if err := s.ledger.MoveTransaction(ctx, tx.Client(), *w.TransactionID, ledgertransaction.StatusPENDING, ledgertransaction.StatusFAILED, reason); err != nil {
			return fmt.Errorf("fail hold of withdrawal %s: %w", w.ID, err)
		}
	}
	return s.publishWithdrawal(ctx, tx, w.UserID, w.ID)
}

// withdrawalMoves is a withdrawal's state machine: paid, failed or
// rejected once, and a paid one fails after all when Stripe reverses its
// transfer.
var withdrawalMoves = jobsphere.Transitions[withdrawal.Status]{Name: "Withdrawal", Moves: map[withdrawal.Status][]withdrawal.Status{
	withdrawal.StatusPENDING:   {withdrawal.StatusCOMPLETED, withdrawal.StatusFAILED, withdrawal.StatusREJECTED},
	withdrawal.StatusCOMPLETED: {withdrawal.StatusFAILED},
}}

// moveWithdrawal moves a withdrawal from the status it was read in to
// another, if the caller's guards (only) hold too: every change of a
// withdrawal's status is this one conditional update. A refusal is
// CONFLICT naming the status it is in, or the transfer in progress that
// the guard of a rejection protects.
func moveWithdrawal(ctx context.Context, tx *ent.Tx, w *ent.Withdrawal, to withdrawal.Status, mutate func(*ent.WithdrawalUpdate), only ...predicate.Withdrawal) error {
	var now *ent.Withdrawal
	err := withdrawalMoves.Move(to, func(from []withdrawal.Status) (int, error) {
		u := tx.Withdrawal.Update().Where(withdrawal.ID(w.ID), withdrawal.StatusIn(from...), withdrawal.StatusEQ(w.Status)).
			Where(only...).SetStatus(to)
		mutate(u)
		return u.Save(ctx)
	}, func() (withdrawal.Status, error) {
		var err error
		if now, err = tx.Withdrawal.Get(ctx, w.ID); err != nil {
			return "", err
		}
		return now.Status, nil
	}, func(withdrawal.Status) error { return withdrawalConflict(now) })
	if err != nil {
		return fmt.Errorf("move withdrawal %s to %s: %w", w.ID, to, err)
	}
	return nil
}

// ApproveWithdrawal is an admin's yes: the transfer is made.
func (s *Service) ApproveWithdrawal(ctx context.Context, v auth.Viewer, id pulid.ID) (*ent.Withdrawal, error) {
	if !v.IsAdmin() {
		return nil, auth.NotAuthorized()
	}
	if err := s.payOut(ctx, id, true, v.UserID); err != nil {
		return nil, notFoundAs(err, "Withdrawal")
	}
	return s.client.Withdrawal.Get(ctx, id)
}

// RejectWithdrawal is an admin's no: the hold comes back.
func (s *Service) RejectWithdrawal(ctx context.Context, v auth.Viewer, id pulid.ID, reason string) (*ent.Withdrawal, error) {
	if !v.IsAdmin() {
		return nil, auth.NotAuthorized()
	}
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	err := s.client.WithTx(ctx, func(tx *ent.Tx) error {
		w, err := tx.Withdrawal.Get(ctx, id)
		if err != nil {
			return err
		}
		// Only before the transfer was asked for: after, Stripe's answer decides.
		if err := s.endWithdrawal(ctx, tx, w, withdrawal.StatusREJECTED, strings.TrimSpace(reason), &v.UserID, withdrawal.TransferStartedAtIsNil()); err != nil {
			return err
		}
		return audit.Record(ctx, tx.Client(), audit.Entry{Actor: v.UserID, Action: audit.RejectWithdrawal, Target: id,
			Before: w.Status.String(), After: withdrawal.StatusREJECTED.String(), Reason: strings.TrimSpace(reason)})
	})
	if err != nil {
		return nil, notFoundAs(err, "Withdrawal")
	}
	return s.client.Withdrawal.Get(ctx, id)
}

func notFoundAs(err error, what string) error {
	if ent.IsNotFound(err) {
		return jobsphere.Errorf(jobsphere.NotFound, "%s not found", what)
	}
	return err
}

// GetWithdrawal returns a withdrawal of the viewer (any, for an admin).
func (s *Service) GetWithdrawal(ctx context.Context, v auth.Viewer, id pulid.ID) (*ent.Withdrawal, error) {
	w, err := s.client.Withdrawal.Query().Where(withdrawal.ID(id), WithdrawalsVisibleTo(v)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read withdrawal %s: %w", id, err)
	}
	return w, nil
}

// Withdrawals pages the viewer's withdrawals (admins: everyone's), newest
// first; status filters, e.g. PENDING for the approval queue.
func (s *Service) Withdrawals(ctx context.Context, v auth.Viewer, status *withdrawal.Status, p market.Page) (*ent.WithdrawalConnection, error) {
	q := s.client.Withdrawal.Query().Where(WithdrawalsVisibleTo(v))
	if status != nil {
		q.Where(withdrawal.StatusEQ(*status))
	}
	return q.Paginate(ctx, p.After, p.First, p.Before, p.Last, ent.WithWithdrawalOrder(newestWithdrawals))
}

var newestWithdrawals = &ent.WithdrawalOrder{Direction: entgql.OrderDirectionDesc, Field: ent.WithdrawalOrderFieldCreatedAt}

func (s *Service) withdrawResult(ctx context.Context, id pulid.ID) (*WithdrawResult, error) {
	w, err := s.client.Withdrawal.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	wal, err := s.ledger.Wallet(ctx, w.UserID)
	if err != nil {
		return nil, err
	}
	return &WithdrawResult{Withdrawal: w, Wallet: wal, EstimatedArrival: "1-2 business days"}, nil
}

// onTransferReversed undoes a completed withdrawal whose transfer Stripe
// reversed: the money comes back to the contractor's available balance,
// once, and the payout's transaction is REVERSED.
func (s *Service) onTransferReversed(ctx context.Context, tx *ent.Tx, tr *EventTransfer) error {
	w, err := tx.Withdrawal.Query().Where(withdrawal.StripeTransferID(tr.ID)).Only(ctx)
	if ent.IsNotFound(err) {
		s.logger.WarnContext(ctx, "transfer.reversed for an unknown transfer", "transfer", tr.ID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("find withdrawal of transfer %s: %w", tr.ID, err)
	}
	if w.Status != withdrawal.StatusCOMPLETED {
		return nil
	}
	err = moveWithdrawal(ctx, tx, w, withdrawal.StatusFAILED, func(u *ent.WithdrawalUpdate) { u.SetFailureReason("The transfer was reversed") })
	if jobsphere.ErrorCode(err) == jobsphere.Conflict {
		return nil // reversed meanwhile, by another delivery
	}
	if err != nil {
		return err
	}
	if _, err := s.ledger.Post(ctx, tx.Client(), ledger.Entry{
		Key: "withdrawal:" + string(w.ID) + ":reversal", Type: ledgertransaction.TypeWITHDRAWAL,
		Description: "Payout reversed: " + s.cfg.Currency.Display(w.Amount) + " back to your wallet", StripeTransferID: tr.ID,
		Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(w.UserID), Amount: w.Amount}},
	}); err != nil {
		return fmt.Errorf("post reversal of withdrawal %s: %w", w.ID, err)
	}
	payout, err := tx.LedgerTransaction.Query().Where(ledgertransaction.IdempotencyKey("withdrawal:" + string(w.ID) + ":payout")).Only(ctx)
	if err == nil {
		err = s.ledger.MoveTransaction(ctx, tx.Client(), payout.ID, ledgertransaction.StatusCOMPLETED, ledgertransaction.StatusREVERSED, "Transfer reversed")
	}
	if err != nil {
		return fmt.Errorf("reverse payout of withdrawal %s: %w", w.ID, err)
	}
	return s.publishWithdrawal(ctx, tx, w.UserID, w.ID)
}

// publishWithdrawal tells the contractor and admins' queue the withdrawal changed.
func (s *Service) publishWithdrawal(ctx context.Context, tx *ent.Tx, userID, id pulid.ID) error {
	if err := s.broker.PublishTx(ctx, tx, realtime.Event{Topic: UserTopic(userID), Kind: kindWithdrawalUpdated,
		IDs: map[string]string{"withdrawal": string(id)}}); err != nil {
		return fmt.Errorf("publish withdrawal %s: %w", id, err)
	}
	return s.publishToAdmins(ctx, tx, kindWithdrawalUpdated, "withdrawal", id)
}
