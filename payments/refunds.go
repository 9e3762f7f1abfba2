package payments

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/realtime"
)

// A refund made outside this server — in Stripe's Dashboard — of a charge
// that paid a deposit or a job Checkout takes the money back from the
// customer: their available balance first; what it cannot cover they owe
// (ledger.TakeBack), which freezes their wallet (CHARGEBACK) until a
// deposit pays it back. Money held in escrow or paid to a contractor stays
// where it is: the platform carries that risk and platformStats shows it.
//
// Stripe's charge.refunded event (API 2023-10-16) carries the charge's
// running total refunded, not the refunds, so the outside part is that
// total minus what we refunded to the card ourselves (escrow and deposit
// refunds, each claimed before Stripe is asked), and what is booked is
// that minus what was booked for the charge before, under the customer's
// wallet lock. The key names the running total booked: a duplicate, or an
// older event arriving after a newer one, books nothing.

// outsideRefundKey is the key prefix of a charge's outside refunds.
func outsideRefundKey(chargeID string) string { return "charge:" + chargeID + outsideRefundMark }

const outsideRefundMark = ":refunded-outside:"

func (s *Service) onChargeRefunded(ctx context.Context, tx *ent.Tx, ch *EventCharge) error {
	if ch.PaymentIntentID == "" {
		return nil
	}
	customer, err := s.ledger.PaidBy(ctx, tx.Client(), ch.PaymentIntentID)
	if err != nil {
		return err
	}
	if customer == "" {
		return s.unrecordedPayment(ctx, tx, ch.PaymentIntentID, ch.Metadata, "refund of charge "+ch.ID)
	}
	if _, err := s.ledger.LockWallet(ctx, tx.Client(), customer); err != nil {
		return err
	}
	ours, err := s.cardRefundsOf(ctx, tx, ch.PaymentIntentID)
	if err != nil {
		return err
	}
	booked, err := s.ledger.TotalPosted(ctx, tx.Client(), outsideRefundKey(ch.ID))
	if err != nil {
		return err
	}
	outside := ch.AmountRefunded - ours - booked
	if outside <= 0 {
		s.logger.InfoContext(ctx, "charge refund already booked or made by us", "charge", ch.ID,
			"refunded", ch.AmountRefunded, "ours", ours, "booked_outside", booked)
		return nil
	}
	posted, err := s.ledger.TakeBack(ctx, tx.Client(), customer, outside, ledger.Entry{
		Key:  outsideRefundKey(ch.ID) + strconv.FormatInt(booked+outside, 10),
		Type: ledgertransaction.TypeREFUND, StripePaymentIntentID: ch.PaymentIntentID,
		Description: "Refund of " + s.cfg.Currency.Display(outside) + " made in Stripe's Dashboard, taken from the wallet",
	})
	if err != nil {
		return fmt.Errorf("take back the outside refund of %s: %w", ch.ID, err)
	}
	s.logger.WarnContext(ctx, "refund made outside the server taken back", "charge", ch.ID, "user", customer,
		"amount", outside, "transaction", posted.Transaction.ID)
	return s.broker.PublishTx(ctx, tx, realtime.Event{Topic: UserTopic(customer), Kind: "REFUNDED",
		IDs: map[string]string{"transaction": string(posted.Transaction.ID)}})
}

// unrecordedPayment handles news of a payment we have not booked (what
// names it, for the logs): one of ours whose success event has not
// arrived yet is an error, so Stripe delivers the news again later; anyone
// else's is ignored. meta is the charge's metadata when the event has it.
func (s *Service) unrecordedPayment(ctx context.Context, tx *ent.Tx, paymentIntentID string, meta map[string]string, what string) error {
	ours := meta["kind"] != "" || meta["deposit_id"] != ""
	if !ours {
		known, err := tx.Deposit.Query().Where(deposit.StripePaymentIntentID(paymentIntentID)).Exist(ctx)
		if err != nil {
			return fmt.Errorf("read deposit of %s: %w", paymentIntentID, err)
		}
		ours = known
	}
	if ours {
		return fmt.Errorf("%s before its payment %s is recorded: Stripe delivers it again", what, paymentIntentID)
	}
	s.logger.WarnContext(ctx, "stripe news of a payment that is not ours", "about", what, "payment_intent", paymentIntentID)
	return nil
}

// cardRefundsOf is what this server refunded, or is refunding, to the card
// of a payment: its escrows' card refunds and its deposit's refunds
// (refundDeposit). Each is counted before Stripe is asked, so by the time
// Stripe reports a refund of ours it is here.
func (s *Service) cardRefundsOf(ctx context.Context, tx *ent.Tx, paymentIntentID string) (int64, error) {
	escrows, err := s.jobs.CardRefundsOf(ctx, tx, paymentIntentID)
	if err != nil {
		return 0, err
	}
	deps, err := tx.Deposit.Query().Where(deposit.StripePaymentIntentID(paymentIntentID)).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("read the deposit refunds of %s: %w", paymentIntentID, err)
	}
	for _, d := range deps {
		escrows += d.RefundedAmount
	}
	return escrows, nil
}

// refundedOutside is what refunds made outside the server took back of a
// payment so far.
func refundedOutside(ctx context.Context, tx *ent.Tx, paymentIntentID string) (int64, error) {
	var sum []struct {
		Sum sql.NullInt64 `json:"sum"`
	}
	err := tx.LedgerTransaction.Query().
		Where(ledgertransaction.StripePaymentIntentID(paymentIntentID), ledgertransaction.IdempotencyKeyContains(outsideRefundMark)).
		Aggregate(ent.As(ent.Sum(ledgertransaction.FieldAmount), "sum")).Scan(ctx, &sum)
	if err != nil {
		return 0, fmt.Errorf("read the outside refunds of %s: %w", paymentIntentID, err)
	}
	if len(sum) == 0 {
		return 0, nil
	}
	return sum[0].Sum.Int64, nil
}
