package payments

import (
	"context"
	"fmt"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// HandleEvent applies a verified Stripe event inside tx, the transaction
// that also records the event: both commit together or not at all. It is
// safe to see an event twice, or two events for one payment in any order.
// Types we don't act on are accepted and ignored.
func (s *Service) HandleEvent(ctx context.Context, tx *ent.Tx, ev Event) error {
	if !s.Handles(ev) {
		s.logger.InfoContext(ctx, "stripe event ignored", "type", ev.Type, "event", ev.ID, "account", ev.Account)
		return nil
	}
	var err error
	switch {
	case ev.Type == AccountApplicationDeauthorized:
		err = s.onDeauthorized(ctx, tx, ev)
	case ev.CheckoutSession != nil:
		err = s.onCheckoutSession(ctx, tx, ev.Type, ev.CheckoutSession)
	case ev.PaymentIntent != nil:
		err = s.onPaymentIntent(ctx, tx, ev.Type, ev.PaymentIntent)
	case ev.ConnectAccount != nil:
		err = s.onAccountUpdated(ctx, tx, ev)
	case ev.Transfer != nil:
		err = s.onTransferReversed(ctx, tx, ev.Transfer)
	case ev.Charge != nil:
		err = s.onChargeRefunded(ctx, tx, ev.Charge)
	case ev.Payout != nil:
		err = s.onPayout(ctx, tx, ev)
	case ev.Dispute != nil:
		err = s.onDispute(ctx, tx, ev.Type, ev.Dispute)
	case ev.FraudWarning != nil:
		err = s.onFraudWarning(ctx, tx, ev.FraudWarning)
	default:
		err = fmt.Errorf("no %s object", ev.Type)
	}
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", ev.Type, ev.ID, err)
	}
	return nil
}

// handledEvents are the event types HandleEvent acts on.
var handledEvents = map[EventType]bool{
	CheckoutSessionCompleted: true, CheckoutSessionAsyncPaymentSucceeded: true,
	CheckoutSessionAsyncPaymentFailed: true, CheckoutSessionExpired: true,
	PaymentIntentSucceeded: true, PaymentIntentPaymentFailed: true, PaymentIntentRequiresAction: true,
	AccountUpdated: true, TransferReversed: true, ChargeRefunded: true,
	ChargeDisputeCreated: true, ChargeDisputeClosed: true, ChargeDisputeFundsWithdrawn: true, ChargeDisputeFundsReinstated: true,
	RadarEarlyFraudWarningCreated: true, RadarEarlyFraudWarningUpdated: true,
}

// connectEvents are the connected accounts' own events HandleEvent acts
// on: their onboarding, their disconnecting the platform, their bank
// payouts. Their other events (and the platform's own payouts) are not ours.
var connectEvents = map[EventType]bool{
	AccountUpdated: true, AccountApplicationDeauthorized: true, PayoutFailed: true, PayoutPaid: true,
}

// Handles tells the webhook route (for its metrics) whether HandleEvent
// acts on ev.
func (s *Service) Handles(ev Event) bool {
	if ev.Account != "" {
		return connectEvents[ev.Type]
	}
	return handledEvents[ev.Type]
}

func (s *Service) onCheckoutSession(ctx context.Context, tx *ent.Tx, typ EventType, cs *EventCheckoutSession) error {
	if cs.Metadata["kind"] == "job_payment" {
		if typ != CheckoutSessionAsyncPaymentSucceeded && (typ != CheckoutSessionCompleted || !cs.Paid) {
			return nil // an unpaid, expired or failed job checkout creates nothing
		}
		return s.onJobCheckout(ctx, tx, cs)
	}
	depositID := cs.Metadata["deposit_id"]
	if depositID == "" {
		depositID = cs.ClientReferenceID
	}
	d, err := s.ourDeposit(ctx, tx, depositID)
	if d == nil || err != nil {
		return err
	}
	switch typ {
	case CheckoutSessionCompleted:
		// Delayed payment methods complete the session unpaid; their
		// async_payment_succeeded event settles it.
		if !cs.Paid {
			return nil
		}
		return s.credit(ctx, tx, d, cs.PaymentIntentID)
	case CheckoutSessionAsyncPaymentSucceeded:
		return s.credit(ctx, tx, d, cs.PaymentIntentID)
	case CheckoutSessionAsyncPaymentFailed:
		return s.fail(ctx, tx, d, deposit.StatusFAILED, "The payment failed")
	default: // expired
		return s.fail(ctx, tx, d, deposit.StatusEXPIRED, "The checkout session expired")
	}
}

func (s *Service) onPaymentIntent(ctx context.Context, tx *ent.Tx, typ EventType, pi *EventPaymentIntent) error {
	d, err := s.ourDeposit(ctx, tx, pi.Metadata["deposit_id"])
	if d == nil || err != nil {
		return err
	}
	switch typ {
	case PaymentIntentSucceeded:
		return s.credit(ctx, tx, d, pi.ID)
	case PaymentIntentPaymentFailed:
		return s.fail(ctx, tx, d, deposit.StatusFAILED, FailureMessage(pi.FailureCode, pi.FailureDeclineCode))
	default: // requires_action
		if d.Status != deposit.StatusPENDING {
			return nil
		}
		err := moveDeposit(ctx, tx.Client(), d, deposit.StatusREQUIRES_ACTION, func(u *ent.DepositUpdate) { u.SetStripePaymentIntentID(pi.ID) })
		if jobsphere.ErrorCode(err) == jobsphere.Conflict {
			return nil // settled meanwhile: its own event says more than this one
		}
		return err
	}
}

// ourDeposit finds the deposit an event is about; an event for a payment
// that is not a deposit of ours (another integration on the same Stripe
// account) is nil, nil.
func (s *Service) ourDeposit(ctx context.Context, tx *ent.Tx, id string) (*ent.Deposit, error) {
	if id == "" {
		return nil, nil
	}
	d, err := tx.Deposit.Get(ctx, pulid.ID(id))
	if ent.IsNotFound(err) {
		s.logger.WarnContext(ctx, "stripe event for an unknown deposit", "deposit", id)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read deposit %s: %w", id, err)
	}
	return d, nil
}
