package payments

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/stripe/stripe-go/v76"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// HandleEvent applies a verified Stripe event inside tx, the transaction
// that also records the event: both commit together or not at all. It is
// safe to see an event twice, or two events for one payment in any order.
// Types we don't act on are accepted and ignored.
func (s *Service) HandleEvent(ctx context.Context, tx *ent.Tx, ev stripe.Event) error {
	if !s.Handles(ev) {
		s.logger.InfoContext(ctx, "stripe event ignored", "type", ev.Type, "event", ev.ID, "account", ev.Account)
		return nil
	}
	switch ev.Type {
	case stripe.EventTypeCheckoutSessionCompleted, stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded,
		stripe.EventTypeCheckoutSessionAsyncPaymentFailed, stripe.EventTypeCheckoutSessionExpired:
		var cs stripe.CheckoutSession
		if err := json.Unmarshal(ev.Data.Raw, &cs); err != nil {
			return fmt.Errorf("payments: decode %s: %w", ev.Type, err)
		}
		return s.onCheckoutSession(ctx, tx, ev.Type, &cs)
	case stripe.EventTypePaymentIntentSucceeded, stripe.EventTypePaymentIntentPaymentFailed,
		stripe.EventTypePaymentIntentRequiresAction:
		var pi stripe.PaymentIntent
		if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
			return fmt.Errorf("payments: decode %s: %w", ev.Type, err)
		}
		return s.onPaymentIntent(ctx, tx, ev.Type, &pi)
	case stripe.EventTypeAccountUpdated:
		return s.onAccountUpdated(ctx, tx, ev)
	case stripe.EventTypeTransferReversed:
		return s.onTransferReversed(ctx, tx, ev.Data.Raw)
	}
	return nil
}

// handledEvents are the event types HandleEvent acts on.
var handledEvents = map[stripe.EventType]bool{
	stripe.EventTypeCheckoutSessionCompleted: true, stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded: true,
	stripe.EventTypeCheckoutSessionAsyncPaymentFailed: true, stripe.EventTypeCheckoutSessionExpired: true,
	stripe.EventTypePaymentIntentSucceeded: true, stripe.EventTypePaymentIntentPaymentFailed: true,
	stripe.EventTypePaymentIntentRequiresAction: true,
	stripe.EventTypeAccountUpdated:              true, stripe.EventTypeTransferReversed: true,
}

// Handles tells the webhook route (for its metrics) whether HandleEvent
// acts on ev. A connected account's own events are not ours, except the
// account.updated that tracks its onboarding.
func (s *Service) Handles(ev stripe.Event) bool {
	if ev.Account != "" && ev.Type != stripe.EventTypeAccountUpdated {
		return false
	}
	return handledEvents[ev.Type]
}

func (s *Service) onCheckoutSession(ctx context.Context, tx *ent.Tx, typ stripe.EventType, cs *stripe.CheckoutSession) error {
	if cs.Metadata["kind"] == "job_payment" {
		paid := typ == stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded ||
			(typ == stripe.EventTypeCheckoutSessionCompleted && cs.PaymentStatus == stripe.CheckoutSessionPaymentStatusPaid)
		if !paid {
			return nil // an unpaid, expired or failed job checkout creates nothing
		}
		piID := ""
		if cs.PaymentIntent != nil {
			piID = cs.PaymentIntent.ID
		}
		return s.onJobCheckout(ctx, tx, cs, piID)
	}
	depositID := cs.Metadata["deposit_id"]
	if depositID == "" {
		depositID = cs.ClientReferenceID
	}
	d, err := s.ourDeposit(ctx, tx, depositID)
	if d == nil || err != nil {
		return err
	}
	piID := ""
	if cs.PaymentIntent != nil {
		piID = cs.PaymentIntent.ID
	}
	switch typ {
	case stripe.EventTypeCheckoutSessionCompleted:
		// Delayed payment methods complete the session unpaid; their
		// async_payment_succeeded event settles it.
		if cs.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid {
			return nil
		}
		return s.credit(ctx, tx, d, piID)
	case stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded:
		return s.credit(ctx, tx, d, piID)
	case stripe.EventTypeCheckoutSessionAsyncPaymentFailed:
		return s.fail(ctx, tx, d, deposit.StatusFAILED, "The payment failed")
	default: // expired
		return s.fail(ctx, tx, d, deposit.StatusEXPIRED, "The checkout session expired")
	}
}

func (s *Service) onPaymentIntent(ctx context.Context, tx *ent.Tx, typ stripe.EventType, pi *stripe.PaymentIntent) error {
	d, err := s.ourDeposit(ctx, tx, pi.Metadata["deposit_id"])
	if d == nil || err != nil {
		return err
	}
	switch typ {
	case stripe.EventTypePaymentIntentSucceeded:
		return s.credit(ctx, tx, d, pi.ID)
	case stripe.EventTypePaymentIntentPaymentFailed:
		code, decline := "", ""
		if e := pi.LastPaymentError; e != nil {
			code, decline = string(e.Code), string(e.DeclineCode)
		}
		return s.fail(ctx, tx, d, deposit.StatusFAILED, failureMessage(code, decline))
	default: // requires_action
		if d.Status != deposit.StatusPENDING {
			return nil
		}
		_, err := transition(ctx, tx, d, deposit.StatusREQUIRES_ACTION, func(u *ent.DepositUpdate) { u.SetStripePaymentIntentID(pi.ID) })
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
	return d, err
}
