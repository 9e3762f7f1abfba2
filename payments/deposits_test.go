package payments

import (
	"errors"
	"testing"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

func TestNewServiceRequiresItsMoneyPaths(t *testing.T) {
	if _, err := NewService(nil, nil, newScriptedGateway(), nil, nil, nil, Config{}, nil); err == nil {
		t.Fatal("payments without the marketplace to fund: no error")
	}
	if _, err := NewService(nil, nil, nil, nil, nil, nil, Config{}, nil); err == nil {
		t.Fatal("payments without a gateway: no error")
	}
}

// checkoutEvent is a Checkout session event about deposit d.
func checkoutEvent(typ EventType, d pulid.ID, paid bool) Event {
	return Event{Type: typ, CheckoutSession: &EventCheckoutSession{
		ID: "cs_deposit:" + string(d), ClientReferenceID: string(d), Paid: paid, PaymentIntentID: "pi_" + string(d),
		Metadata: map[string]string{"deposit_id": string(d), "kind": "wallet_deposit"},
	}}
}

func intentEvent(typ EventType, d pulid.ID) Event {
	return Event{Type: typ, PaymentIntent: &EventPaymentIntent{ID: "pi_" + string(d), Metadata: map[string]string{"deposit_id": string(d)}}}
}

// TestCheckoutDeposit: a Checkout deposit is pending until Stripe's event
// says it is paid; a session completed unpaid (a delayed method) waits for
// async_payment_succeeded; a redelivery credits nothing twice.
func TestCheckoutDeposit(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		u := f.user(t, role.Customer)
		res, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 5000})
		if err != nil {
			t.Fatal(err)
		}
		d := res.Deposit
		if d.Status != deposit.StatusPENDING || res.CheckoutURL == nil || *res.SessionID != "cs_deposit:"+string(d.ID) {
			t.Fatalf("deposit: %+v", res)
		}
		if keys := f.gw.asked("checkout"); len(keys) != 1 || keys[0] != "deposit:"+string(d.ID) {
			t.Fatalf("checkout keys %v", keys)
		}
		f.wallet(t, u, 0, 5000)
		f.mustDeliver(t, checkoutEvent(CheckoutSessionCompleted, d.ID, false))
		f.wallet(t, u, 0, 5000)
		for range 2 {
			f.mustDeliver(t, checkoutEvent(CheckoutSessionAsyncPaymentSucceeded, d.ID, true))
			f.wallet(t, u, 5000, 0)
		}
		if got := f.deposit(t, d.ID); got.Status != deposit.StatusSUCCEEDED || got.TransactionID == nil {
			t.Fatalf("after payment: %+v", got)
		}
		// A second deposit, paid at once.
		res, err = f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 1000})
		if err != nil {
			t.Fatal(err)
		}
		f.mustDeliver(t, checkoutEvent(CheckoutSessionCompleted, res.Deposit.ID, true))
		f.wallet(t, u, 6000, 0)
		f.verify(t)
	})
}

// TestCheckoutDepositFailsOrExpires: a failed or expired session ends its
// deposit and its pending amount; a payment that succeeds after all is
// still credited, once.
func TestCheckoutDepositFailsOrExpires(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		u := f.user(t, role.Customer)
		failed, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 2000})
		if err != nil {
			t.Fatal(err)
		}
		expired, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 3000})
		if err != nil {
			t.Fatal(err)
		}
		f.wallet(t, u, 0, 5000)
		f.mustDeliver(t, checkoutEvent(CheckoutSessionAsyncPaymentFailed, failed.Deposit.ID, false))
		f.mustDeliver(t, checkoutEvent(CheckoutSessionExpired, expired.Deposit.ID, false))
		f.wallet(t, u, 0, 0)
		for id, want := range map[pulid.ID]struct {
			status deposit.Status
			reason string
		}{failed.Deposit.ID: {deposit.StatusFAILED, "The payment failed"}, expired.Deposit.ID: {deposit.StatusEXPIRED, "The checkout session expired"}} {
			if d := f.deposit(t, id); d.Status != want.status || d.FailureReason == nil || *d.FailureReason != want.reason {
				t.Fatalf("deposit %s: %s %v, want %s %q", id, d.Status, d.FailureReason, want.status, want.reason)
			}
		}
		// Expired again: a settled deposit is left alone.
		f.mustDeliver(t, checkoutEvent(CheckoutSessionExpired, failed.Deposit.ID, false))
		// Paid after all: the money did arrive.
		f.mustDeliver(t, checkoutEvent(CheckoutSessionCompleted, expired.Deposit.ID, true))
		f.mustDeliver(t, checkoutEvent(CheckoutSessionCompleted, expired.Deposit.ID, true))
		f.wallet(t, u, 3000, 0)
		if d := f.deposit(t, expired.Deposit.ID); d.Status != deposit.StatusSUCCEEDED || d.FailureReason != nil {
			t.Fatalf("paid after expiry: %s %v", d.Status, d.FailureReason)
		}
		f.verify(t)
	})
}

// TestPaymentIntentDeposit: a deposit by payment method follows its
// PaymentIntent's events: 3-D Secure (REQUIRES_ACTION, from the answer or
// the event), then failure with the seeds' words for Stripe's codes, or
// success.
func TestPaymentIntentDeposit(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		u := f.user(t, role.Customer)
		f.gw.requiresAction = true
		res, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 4000, PaymentMethodID: "pm_card_authenticationRequired"})
		if err != nil {
			t.Fatal(err)
		}
		declined := res.Deposit
		if !res.RequiresAction || declined.Status != deposit.StatusREQUIRES_ACTION || *res.PaymentIntentID != "pi_deposit:"+string(declined.ID) {
			t.Fatalf("3-D Secure deposit: %+v, deposit %+v", res, declined)
		}
		f.mustDeliver(t, intentEvent(PaymentIntentRequiresAction, declined.ID)) // no longer PENDING: nothing to do
		ev := intentEvent(PaymentIntentPaymentFailed, declined.ID)
		ev.PaymentIntent.FailureCode, ev.PaymentIntent.FailureDeclineCode = "card_declined", "insufficient_funds"
		f.mustDeliver(t, ev)
		if d := f.deposit(t, declined.ID); d.Status != deposit.StatusFAILED || *d.FailureReason != "Your card has insufficient funds" {
			t.Fatalf("declined: %s %v", d.Status, d.FailureReason)
		}
		f.wallet(t, u, 0, 0)

		f.gw.requiresAction = false
		res, err = f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 1500, PaymentMethodID: "pm_card_visa"})
		if err != nil {
			t.Fatal(err)
		}
		paid := res.Deposit
		if res.RequiresAction || paid.Status != deposit.StatusPENDING || *paid.StripePaymentIntentID != "pi_deposit:"+string(paid.ID) {
			t.Fatalf("card deposit: %+v", paid)
		}
		f.mustDeliver(t, intentEvent(PaymentIntentRequiresAction, paid.ID))
		if d := f.deposit(t, paid.ID); d.Status != deposit.StatusREQUIRES_ACTION {
			t.Fatalf("requires_action on a pending deposit: %s", d.Status)
		}
		f.mustDeliver(t, intentEvent(PaymentIntentSucceeded, paid.ID))
		f.mustDeliver(t, intentEvent(PaymentIntentSucceeded, paid.ID))
		f.wallet(t, u, 1500, 0)
		f.verify(t)
	})
}

// TestDepositNotStarted: a payment the gateway refuses at once fails its
// deposit with the client's error, and nothing stays pending.
func TestDepositNotStarted(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		u := f.user(t, role.Customer)
		f.gw.script("intent", CardDeclined("card_declined", "generic_decline"))
		_, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 2500, PaymentMethodID: "pm_card_chargeDeclined"})
		requireCode(t, "declined deposit", err, jobsphere.PaymentFailed, "Your card was declined")
		f.gw.script("checkout", errors.New("stripe: timeout"))
		if _, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 2500}); err == nil || jobsphere.ErrorCode(err) != jobsphere.Internal {
			t.Fatalf("checkout not started: %v, want an internal error", err)
		}
		ds, err := f.client.Deposit.Query().All(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{"Your card was declined": true, "Payment could not be started": true}
		for _, d := range ds {
			if d.Status != deposit.StatusFAILED || !want[*d.FailureReason] {
				t.Errorf("deposit not started: %s %v", d.Status, d.FailureReason)
			}
		}
		if len(ds) != 2 {
			t.Fatalf("%d deposits, want 2", len(ds))
		}
		f.wallet(t, u, 0, 0)
		requireCode(t, "below the minimum", func() error {
			_, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: minDeposit - 1})
			return err
		}(),
			jobsphere.BadUserInput, "")
		f.verify(t)
	})
}

// TestEventsNotOurs: an event about a deposit we don't know, and a
// connected account's own events, are accepted and change nothing.
func TestEventsNotOurs(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		u := f.user(t, role.Customer)
		res, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 1000})
		if err != nil {
			t.Fatal(err)
		}
		f.mustDeliver(t, checkoutEvent(CheckoutSessionCompleted, pulid.New("dep"), true))
		f.mustDeliver(t, intentEvent(PaymentIntentSucceeded, ""))
		theirs := intentEvent(PaymentIntentSucceeded, res.Deposit.ID)
		theirs.Account = "acct_someone"
		if f.svc.Handles(theirs) {
			t.Fatal("a connected account's payment_intent.succeeded is handled")
		}
		f.mustDeliver(t, theirs)
		f.mustDeliver(t, Event{Type: "customer.created"})
		f.wallet(t, u, 0, 1000)
		f.verify(t)
	})
}
