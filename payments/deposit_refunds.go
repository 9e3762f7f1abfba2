package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/chargeback"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/realtime"
)

// RefundDeposit is an admin's refund of a deposit's unspent money to the
// card that paid it — the answer to an early fraud warning, before the
// bank's chargeback: what of it is still in the customer's available
// balance, at most the deposit's amount less what was refunded of it
// before (by this or in Stripe's Dashboard). Money in escrow or paid to a
// contractor stays where it is.
//
// As for a card refund of an escrow, the claim comes before Stripe: one
// transaction takes the money out of the wallet and records the refund in
// flight on the deposit (refund_transaction_id) and commits; then Stripe
// is asked, with that transaction's key as the idempotency key; then the
// refund is recorded done (the deposit REFUNDED). A retry, or the
// sweeper after a crash, finishes the refund in flight with the same key,
// so Stripe refunds once; a refusal that surely moved nothing gives the
// money back. Stripe's charge.refunded for it is recognised as ours (the
// claim counts in refunded_amount) and changes nothing.
func (s *Service) RefundDeposit(ctx context.Context, v auth.Viewer, id pulid.ID) (*ent.Deposit, error) {
	if !v.IsAdmin() {
		return nil, auth.NotAuthorized()
	}
	claim, err := s.claimDepositRefund(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("refund deposit %s: %w", id, err)
	}
	if err := s.refundClaimed(ctx, id, claim); err != nil {
		return nil, fmt.Errorf("refund deposit %s: %w", id, err)
	}
	return s.client.Deposit.Get(ctx, id)
}

// claimDepositRefund takes the refund's money out of the customer's wallet
// and records the refund in flight, in one committed transaction; with a
// refund in flight already, it returns that one.
func (s *Service) claimDepositRefund(ctx context.Context, id pulid.ID) (*ent.LedgerTransaction, error) {
	var claim *ent.LedgerTransaction
	err := s.client.WithTx(ctx, func(tx *ent.Tx) error {
		d, err := tx.Deposit.Get(ctx, id)
		if ent.IsNotFound(err) {
			return jobsphere.Errorf(jobsphere.NotFound, "Deposit not found")
		}
		if err != nil {
			return fmt.Errorf("read deposit %s: %w", id, err)
		}
		if _, err := s.ledger.LockWallet(ctx, tx.Client(), d.UserID); err != nil {
			return err
		}
		if d, err = tx.Deposit.Get(ctx, id); err != nil { // as it is under the lock
			return fmt.Errorf("read deposit %s: %w", id, err)
		}
		if d.RefundTransactionID != nil {
			claim, err = tx.LedgerTransaction.Get(ctx, *d.RefundTransactionID)
			return err
		}
		left, err := s.refundable(ctx, tx, d)
		if err != nil {
			return err
		}
		posted, err := s.ledger.RefundToCard(ctx, tx.Client(), d.UserID, left, ledger.Entry{
			Key:  "deposit:" + string(d.ID) + ":refund:" + ulid(),
			Type: ledgertransaction.TypeREFUND, Description: "Deposit refunded to the card",
			StripePaymentIntentID: *d.StripePaymentIntentID,
		})
		if err != nil {
			return fmt.Errorf("take the refund of deposit %s from the wallet: %w", d.ID, err)
		}
		if posted == nil {
			return jobsphere.Errorf(jobsphere.Conflict, "Nothing of this deposit is left in the wallet to refund: its money was spent")
		}
		claim = posted.Transaction
		n, err := tx.Deposit.Update().Where(deposit.ID(d.ID), deposit.RefundTransactionIDIsNil()).
			AddRefundedAmount(claim.Amount).SetRefundTransactionID(claim.ID).Save(ctx)
		if err != nil {
			return fmt.Errorf("record the refund of deposit %s: %w", d.ID, err)
		}
		if n == 0 {
			return fmt.Errorf("payments: deposit %s changed under its wallet's lock", d.ID)
		}
		return s.broker.PublishTx(ctx, tx, realtime.Event{Topic: UserTopic(d.UserID), Kind: "REFUNDED",
			IDs: map[string]string{"transaction": string(claim.ID), "deposit": string(d.ID)}})
	})
	return claim, err
}

// refundable is what of a deposit may still go back to its card, before
// looking at the wallet: its amount less what was refunded of it, by us
// or in Stripe's Dashboard. A deposit not paid, or disputed, has nothing.
func (s *Service) refundable(ctx context.Context, tx *ent.Tx, d *ent.Deposit) (int64, error) {
	if d.Status != deposit.StatusSUCCEEDED && d.Status != deposit.StatusREFUNDED {
		return 0, jobsphere.Errorf(jobsphere.Conflict, "Deposit is %s; only a paid deposit can be refunded", d.Status)
	}
	if d.StripePaymentIntentID == nil {
		return 0, jobsphere.Errorf(jobsphere.Conflict, "This deposit has no Stripe payment to refund")
	}
	pi := *d.StripePaymentIntentID
	disputed, err := tx.Chargeback.Query().Where(chargeback.StripePaymentIntentID(pi)).Exist(ctx)
	if err != nil {
		return 0, fmt.Errorf("read chargebacks of %s: %w", pi, err)
	}
	if disputed {
		return 0, jobsphere.Errorf(jobsphere.Conflict, "This deposit's payment is disputed (a chargeback): the card's bank takes it back, not a refund")
	}
	outside, err := refundedOutside(ctx, tx, pi)
	if err != nil {
		return 0, err
	}
	left := d.Amount - d.RefundedAmount - outside
	if left <= 0 {
		return 0, jobsphere.Errorf(jobsphere.Conflict, "This deposit is refunded in full already")
	}
	return left, nil
}

// refundClaimed asks Stripe for the claimed refund and records its
// answer: done, or, when Stripe surely refunded nothing, the money back in
// the wallet. Any other failure leaves the claim for a retry.
func (s *Service) refundClaimed(ctx context.Context, id pulid.ID, claim *ent.LedgerTransaction) error {
	pi := deref(claim.StripePaymentIntentID)
	refused, err := NewCardRefunds(s.gateway).RefundCard(ctx, claim.IdempotencyKey, pi, claim.Amount)
	if err == nil {
		return s.settleDepositRefund(ctx, id, claim, nil)
	}
	if !refused {
		return err // maybe refunded: the claim stays, a retry finishes it
	}
	if serr := s.settleDepositRefund(ctx, id, claim, err); serr != nil {
		return errors.Join(err, serr)
	}
	var appErr *jobsphere.Error
	var r *RefusedError
	switch {
	case errors.As(err, &appErr):
		return appErr
	case errors.As(err, &r):
		return jobsphere.Errorf(jobsphere.PaymentFailed, "Stripe refused the refund: %s", r.Message)
	}
	return err
}

// settleDepositRefund records the answer to a claimed refund, once (a
// claim no longer in flight was settled by another call): done, the
// deposit REFUNDED and its payment's fraud warnings resolved; or, refused,
// the claim reversed.
func (s *Service) settleDepositRefund(ctx context.Context, id pulid.ID, claim *ent.LedgerTransaction, refused error) error {
	return s.client.WithTx(ctx, func(tx *ent.Tx) error {
		d, err := tx.Deposit.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("read deposit %s: %w", id, err)
		}
		if _, err := s.ledger.LockWallet(ctx, tx.Client(), d.UserID); err != nil {
			return err
		}
		settled, err := tx.Deposit.Update().Where(deposit.ID(id), deposit.RefundTransactionID(claim.ID)).
			ClearRefundTransactionID().Save(ctx)
		if err != nil {
			return fmt.Errorf("settle the refund of deposit %s: %w", id, err)
		}
		if settled == 0 {
			return nil
		}
		if refused != nil {
			return s.giveBackRefund(ctx, tx, d, claim)
		}
		if d.Status == deposit.StatusSUCCEEDED {
			if err := moveDeposit(ctx, tx.Client(), d, deposit.StatusREFUNDED, nil); err != nil {
				return err
			}
		}
		if err := resolveFraudWarnings(ctx, tx, deref(claim.StripePaymentIntentID)); err != nil {
			return err
		}
		return s.refreshCaseHolds(ctx, tx, d.UserID)
	})
}

// giveBackRefund undoes a refund's claim that Stripe refused: the money
// goes back to the wallet and out of the deposit's refunded amount.
func (s *Service) giveBackRefund(ctx context.Context, tx *ent.Tx, d *ent.Deposit, claim *ent.LedgerTransaction) error {
	posted, err := s.ledger.Reverse(ctx, tx.Client(), claim.ID, claim.IdempotencyKey+":refused", "Refund refused by Stripe: the money is back in the wallet")
	if err != nil {
		return fmt.Errorf("give back the refused refund of deposit %s: %w", d.ID, err)
	}
	if err := tx.Deposit.UpdateOneID(d.ID).AddRefundedAmount(-claim.Amount).Exec(ctx); err != nil {
		return fmt.Errorf("give back the refused refund of deposit %s: %w", d.ID, err)
	}
	return s.broker.PublishTx(ctx, tx, realtime.Event{Topic: UserTopic(d.UserID), Kind: "REFUNDED",
		IDs: map[string]string{"transaction": string(posted.Transaction.ID), "deposit": string(d.ID)}})
}

// SweepDepositRefunds finishes the deposit refunds whose process stopped
// between claiming them and recording Stripe's answer, once their claim
// is older than grace. It returns how many it finished.
func (s *Service) SweepDepositRefunds(ctx context.Context, grace time.Duration) (int, error) {
	stuck, err := s.client.Deposit.Query().Where(deposit.RefundTransactionIDNotNil()).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("read deposit refunds in flight: %w", err)
	}
	done := 0
	for _, d := range stuck {
		claim, err := s.client.LedgerTransaction.Get(ctx, *d.RefundTransactionID)
		if err != nil {
			return done, fmt.Errorf("read the refund of deposit %s: %w", d.ID, err)
		}
		if time.Since(claim.CreatedAt) < grace {
			continue
		}
		if err := s.refundClaimed(ctx, d.ID, claim); err != nil && jobsphere.ErrorCode(err) != jobsphere.PaymentFailed {
			return done, fmt.Errorf("finish the refund of deposit %s: %w", d.ID, err)
		}
		done++
	}
	return done, nil
}

// ulid is a fresh ULID: one refund's key among a deposit's.
func ulid() string { return string(pulid.New("r"))[2:] }
