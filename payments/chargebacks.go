package payments

import (
	"context"
	"fmt"
	"time"

	"entgo.io/contrib/entgql"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/chargeback"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/fraudwarning"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/market"
	"github.com/jobsphere/jobsphere/realtime"
)

// A card chargeback: the customer's bank disputes a payment of ours (a
// deposit or a job Checkout) and Stripe takes the money back out of the
// platform's balance, with its dispute fee. Stripe's four dispute events
// arrive in any order, any number of times; whichever comes first makes
// the case (one row per Stripe dispute id). created and closed record the
// case and its outcome; funds_withdrawn and funds_reinstated move the
// money, once each (ledger.Chargeback, ledger.ChargebackReversal, keyed
// by the dispute's id). The customer bears the amount and the platform
// the fee; money in escrow or paid to a contractor is never touched. The
// customer's wallet is frozen for CHARGEBACK while the case is open or
// money is owed (ledger.RefreshCaseHolds). Every event takes the
// customer's wallet lock first, so two events of one dispute queue.

// chargebackMoves is a chargeback case's state machine: Stripe closes an
// open case, won or lost, once. A case first heard of by its closing
// event is made closed: that is no move.
var chargebackMoves = jobsphere.Transitions[chargeback.Status]{Name: "Chargeback", Moves: map[chargeback.Status][]chargeback.Status{
	chargeback.StatusOPEN: {chargeback.StatusWON, chargeback.StatusLOST},
}}

// moveChargeback is the one way a case's status changes: a conditional
// update on chargebackMoves.
func moveChargeback(ctx context.Context, tx *ent.Client, id pulid.ID, to chargeback.Status, mutate func(*ent.ChargebackUpdate)) error {
	err := chargebackMoves.Move(to, func(from []chargeback.Status) (int, error) {
		u := tx.Chargeback.Update().Where(chargeback.ID(id), chargeback.StatusIn(from...)).SetStatus(to)
		if mutate != nil {
			mutate(u)
		}
		return u.Save(ctx)
	}, func() (chargeback.Status, error) {
		c, err := tx.Chargeback.Get(ctx, id)
		if err != nil {
			return "", err
		}
		return c.Status, nil
	}, nil)
	if err != nil {
		return fmt.Errorf("move chargeback %s to %s: %w", id, to, err)
	}
	return nil
}

// outcome is the case status a closed dispute's Stripe status says: won
// (and an inquiry closed without a chargeback: the money stayed) or lost.
func outcome(stripeStatus string) (chargeback.Status, bool) {
	switch stripeStatus {
	case "won", "warning_closed":
		return chargeback.StatusWON, true
	case "lost":
		return chargeback.StatusLOST, true
	}
	return "", false
}

func (s *Service) onDispute(ctx context.Context, tx *ent.Tx, typ EventType, d *EventDispute) error {
	customer, err := s.payer(ctx, tx, d.PaymentIntentID, "dispute "+d.ID)
	if customer == "" || err != nil {
		return err
	}
	cb, err := s.chargebackCase(ctx, tx, customer, typ, d)
	if err != nil {
		return err
	}
	switch typ {
	case ChargeDisputeFundsWithdrawn:
		err = s.chargebackWithdrawn(ctx, tx, cb, d, d.Withdrawn)
	case ChargeDisputeFundsReinstated:
		// Its balance transactions show the withdrawal too: booked first,
		// if its own event has not come yet.
		if d.Withdrawn > 0 {
			err = s.chargebackWithdrawn(ctx, tx, cb, d, d.Withdrawn)
		}
		if err == nil {
			err = s.chargebackReinstated(ctx, tx, cb, d)
		}
	case ChargeDisputeClosed:
		err = s.closeChargeback(ctx, tx, cb, d)
	}
	if err != nil {
		return err
	}
	// A disputed payment's fraud warnings are over: the chargeback came.
	if err := resolveFraudWarnings(ctx, tx, d.PaymentIntentID); err != nil {
		return err
	}
	return s.refreshCaseHolds(ctx, tx, customer)
}

// payer is the customer a payment of ours was booked for, with their
// wallet locked for the rest of tx; "" for a payment that is not ours
// (or, as an error, one of ours not booked yet: see unrecordedPayment).
func (s *Service) payer(ctx context.Context, tx *ent.Tx, paymentIntentID, what string) (pulid.ID, error) {
	if paymentIntentID == "" {
		s.logger.WarnContext(ctx, "stripe news without a payment intent", "about", what)
		return "", nil
	}
	customer, err := s.ledger.PaidBy(ctx, tx.Client(), paymentIntentID)
	if err != nil {
		return "", err
	}
	if customer == "" {
		return "", s.unrecordedPayment(ctx, tx, paymentIntentID, nil, what)
	}
	if _, err := s.ledger.LockWallet(ctx, tx.Client(), customer); err != nil {
		return "", err
	}
	return customer, nil
}

// chargebackCase returns a dispute's case, made now if this is its first
// event: closed already if that event is its closing one.
func (s *Service) chargebackCase(ctx context.Context, tx *ent.Tx, customer pulid.ID, typ EventType, d *EventDispute) (*ent.Chargeback, error) {
	cb, err := tx.Chargeback.Query().Where(chargeback.StripeDisputeID(d.ID)).Only(ctx)
	if err == nil || !ent.IsNotFound(err) {
		return cb, err
	}
	c := tx.Chargeback.Create().SetCustomerID(customer).SetStripeDisputeID(d.ID).
		SetStripePaymentIntentID(d.PaymentIntentID).SetAmount(d.Amount).SetReason(d.Reason)
	if to, ok := outcome(d.Status); ok && typ == ChargeDisputeClosed {
		c.SetStatus(to).SetClosedAt(time.Now())
	}
	paid, err := s.paidFor(ctx, tx, d.PaymentIntentID)
	if err != nil {
		return nil, err
	}
	c.SetNillableDepositID(paid.deposit).SetNillableContractID(paid.contract)
	cb, err = c.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("record chargeback %s: %w", d.ID, err)
	}
	s.logger.WarnContext(ctx, "card chargeback", "dispute", d.ID, "user", customer, "amount", d.Amount, "reason", d.Reason)
	return cb, nil
}

// purchase is what a payment of ours paid: a deposit, or a job
// Checkout's contract.
type purchase struct{ deposit, contract *pulid.ID }

func (s *Service) paidFor(ctx context.Context, tx *ent.Tx, paymentIntentID string) (purchase, error) {
	var out purchase
	if d, err := tx.Deposit.Query().Where(deposit.StripePaymentIntentID(paymentIntentID)).Only(ctx); err == nil {
		out.deposit = &d.ID
	} else if !ent.IsNotFound(err) {
		return out, fmt.Errorf("read the deposit of %s: %w", paymentIntentID, err)
	}
	if e, err := tx.Escrow.Query().Where(escrow.StripePaymentIntentID(paymentIntentID)).Only(ctx); err == nil {
		out.contract = &e.ContractID
	} else if !ent.IsNotFound(err) {
		return out, fmt.Errorf("read the escrow of %s: %w", paymentIntentID, err)
	}
	return out, nil
}

// chargebackWithdrawn books the funds a dispute withdrew (amount; its
// dispute amount when Stripe lists no balance transaction), once.
func (s *Service) chargebackWithdrawn(ctx context.Context, tx *ent.Tx, cb *ent.Chargeback, d *EventDispute, amount int64) error {
	if amount == 0 {
		amount = d.Amount
	}
	posted, err := s.ledger.Chargeback(ctx, tx.Client(), cb.CustomerID, d.ID, amount, d.WithdrawnFee, ledger.Entry{
		Description:           "Card chargeback of " + s.cfg.Currency.Display(amount) + " (" + reasonWords(d.Reason) + ")",
		StripePaymentIntentID: d.PaymentIntentID,
	})
	if err != nil {
		return fmt.Errorf("book the funds withdrawn by %s: %w", d.ID, err)
	}
	if posted.Replayed {
		return nil
	}
	if err := tx.Chargeback.UpdateOne(cb).SetFee(d.WithdrawnFee).Exec(ctx); err != nil {
		return fmt.Errorf("record the fee of %s: %w", d.ID, err)
	}
	return s.publishChargeback(ctx, tx, cb, posted)
}

// chargebackReinstated books the funds Stripe gave back, once.
func (s *Service) chargebackReinstated(ctx context.Context, tx *ent.Tx, cb *ent.Chargeback, d *EventDispute) error {
	amount := d.Reinstated
	if amount == 0 {
		amount = d.Amount
	}
	posted, err := s.ledger.ChargebackReversal(ctx, tx.Client(), cb.CustomerID, d.ID, amount, d.FeeReturned, ledger.Entry{
		Description:           "Card chargeback reversed: the bank decided for us",
		StripePaymentIntentID: d.PaymentIntentID,
	})
	if err != nil {
		return fmt.Errorf("book the funds reinstated for %s: %w", d.ID, err)
	}
	if posted == nil || posted.Replayed {
		return nil
	}
	cur, err := tx.Chargeback.Get(ctx, cb.ID)
	if err != nil {
		return fmt.Errorf("read chargeback %s: %w", cb.ID, err)
	}
	if err := tx.Chargeback.UpdateOne(cur).SetFee(max(cur.Fee-d.FeeReturned, 0)).Exec(ctx); err != nil {
		return fmt.Errorf("record the fee returned for %s: %w", d.ID, err)
	}
	return s.publishChargeback(ctx, tx, cb, posted)
}

// closeChargeback records a closed dispute's outcome, once: a later
// closing event (or a redelivery) changes nothing.
func (s *Service) closeChargeback(ctx context.Context, tx *ent.Tx, cb *ent.Chargeback, d *EventDispute) error {
	to, ok := outcome(d.Status)
	if !ok {
		s.logger.WarnContext(ctx, "closed dispute with no outcome", "dispute", d.ID, "status", d.Status)
		return nil
	}
	if cb.Status != chargeback.StatusOPEN {
		return nil
	}
	err := moveChargeback(ctx, tx.Client(), cb.ID, to, func(u *ent.ChargebackUpdate) { u.SetClosedAt(time.Now()) })
	if jobsphere.ErrorCode(err) == jobsphere.Conflict {
		return nil // closed meanwhile
	}
	if err != nil {
		return err
	}
	return s.publishToAdmins(ctx, tx, kindChargeback, "chargeback", cb.ID)
}

// publishChargeback tells the customer's wallet feed and the admins' queue.
func (s *Service) publishChargeback(ctx context.Context, tx *ent.Tx, cb *ent.Chargeback, posted *ledger.Posted) error {
	if err := s.broker.PublishTx(ctx, tx, realtime.Event{Topic: UserTopic(cb.CustomerID), Kind: kindChargeback,
		IDs: map[string]string{"transaction": string(posted.Transaction.ID)}}); err != nil {
		return err
	}
	return s.publishToAdmins(ctx, tx, kindChargeback, "chargeback", cb.ID)
}

// refreshCaseHolds sets the customer's freeze from their cases and tells
// their wallet feed when it froze or lifted.
func (s *Service) refreshCaseHolds(ctx context.Context, tx *ent.Tx, customer pulid.ID) error {
	was, now, err := s.ledger.RefreshCaseHolds(ctx, tx.Client(), customer)
	if err != nil || was == now {
		return err
	}
	kind := kindUnfrozen
	if now {
		kind = kindFrozen
	}
	if err := s.broker.PublishTx(ctx, tx, realtime.Event{Topic: UserTopic(customer), Kind: kind}); err != nil {
		return err
	}
	return s.publishToAdmins(ctx, tx, kind, "user", customer)
}

// reasonWords is Stripe's dispute reason for people: "product not received".
func reasonWords(reason string) string {
	if reason == "" {
		return "no reason given"
	}
	out := []byte(reason)
	for i, c := range out {
		if c == '_' {
			out[i] = ' '
		}
	}
	return string(out)
}

// Chargebacks pages every card dispute for admins, oldest first: with
// status OPEN, the queue of cases to answer before their deadlines.
func (s *Service) Chargebacks(ctx context.Context, v auth.Viewer, status *chargeback.Status, p market.Page) (*ent.ChargebackConnection, error) {
	if !MaySeeCases(v) {
		return nil, auth.NotAuthorized()
	}
	q := s.client.Chargeback.Query()
	if status != nil {
		q.Where(chargeback.StatusEQ(*status))
	}
	return q.Paginate(ctx, p.After, p.First, p.Before, p.Last, ent.WithChargebackOrder(&ent.ChargebackOrder{
		Direction: entgql.OrderDirectionAsc, Field: ent.ChargebackOrderFieldCreatedAt,
	}))
}

// The early fraud warnings of Stripe Radar: a card's issuer says a payment
// of ours is likely fraud, and a chargeback may follow. The customer's
// wallet is frozen (FRAUD_WARNING: no spending, no withdrawing, no new
// deposits) and the warning is listed for admins, whose answer is to
// refund what is left of the payment (RefundDeposit). The warning is
// resolved, and the freeze lifted with the last, when the payment is
// refunded by RefundDeposit, disputed, or Stripe says it is no longer
// actionable (radar.early_fraud_warning.updated: refunded in full or
// disputed).

func (s *Service) onFraudWarning(ctx context.Context, tx *ent.Tx, w *EventFraudWarning) error {
	customer, err := s.payer(ctx, tx, w.PaymentIntentID, "early fraud warning "+w.ID)
	if customer == "" || err != nil {
		return err
	}
	known, err := tx.FraudWarning.Query().Where(fraudwarning.StripeWarningID(w.ID)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("read fraud warning %s: %w", w.ID, err)
	}
	if !known {
		paid, err := s.paidFor(ctx, tx, w.PaymentIntentID)
		if err != nil {
			return err
		}
		err = tx.FraudWarning.Create().SetCustomerID(customer).SetStripeWarningID(w.ID).SetStripeChargeID(w.ChargeID).
			SetStripePaymentIntentID(w.PaymentIntentID).SetFraudType(w.FraudType).
			SetNillableDepositID(paid.deposit).SetNillableContractID(paid.contract).Exec(ctx)
		if err != nil {
			return fmt.Errorf("record fraud warning %s: %w", w.ID, err)
		}
		s.logger.WarnContext(ctx, "early fraud warning", "warning", w.ID, "user", customer, "fraud_type", w.FraudType)
	}
	disputed, err := tx.Chargeback.Query().Where(chargeback.StripePaymentIntentID(w.PaymentIntentID)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("read chargebacks of %s: %w", w.PaymentIntentID, err)
	}
	if !w.Actionable || disputed {
		if err := resolveFraudWarnings(ctx, tx, w.PaymentIntentID); err != nil {
			return err
		}
	}
	if err := s.publishToAdmins(ctx, tx, kindFraudWarning, "stripeWarning", pulid.ID(w.ID)); err != nil {
		return err
	}
	return s.refreshCaseHolds(ctx, tx, customer)
}

// resolveFraudWarnings resolves a payment's open warnings; the caller
// refreshes the customer's holds.
func resolveFraudWarnings(ctx context.Context, tx *ent.Tx, paymentIntentID string) error {
	err := tx.FraudWarning.Update().
		Where(fraudwarning.StripePaymentIntentID(paymentIntentID), fraudwarning.ResolvedAtIsNil()).
		SetResolvedAt(time.Now()).Exec(ctx)
	if err != nil {
		return fmt.Errorf("resolve the fraud warnings of %s: %w", paymentIntentID, err)
	}
	return nil
}

// FraudWarnings pages every early fraud warning for admins, oldest first.
func (s *Service) FraudWarnings(ctx context.Context, v auth.Viewer, p market.Page) (*ent.FraudWarningConnection, error) {
	if !MaySeeCases(v) {
		return nil, auth.NotAuthorized()
	}
	return s.client.FraudWarning.Query().Paginate(ctx, p.After, p.First, p.Before, p.Last,
		ent.WithFraudWarningOrder(&ent.FraudWarningOrder{Direction: entgql.OrderDirectionAsc, Field: ent.FraudWarningOrderFieldCreatedAt}))
}
