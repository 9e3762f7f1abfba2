package payments

import (
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/wallet"
	"github.com/jobsphere/jobsphere/ledger"
)

func refundedEvent(chargeID, pi string, amount, refunded int64) Event {
	return Event{Type: ChargeRefunded, Charge: &EventCharge{ID: chargeID, PaymentIntentID: pi, Amount: amount,
		AmountRefunded: refunded, Currency: "usd"}}
}

// succeeded is the payment_intent.succeeded of a deposit's payment intent.
func succeeded(res *DepositResult) Event {
	return Event{Type: PaymentIntentSucceeded, PaymentIntent: &EventPaymentIntent{ID: *res.PaymentIntentID,
		Metadata: map[string]string{"deposit_id": string(res.Deposit.ID)}}}
}

// owes asserts a wallet's available balance, what it owes and its freeze.
func (f *fixture) owes(t *testing.T, v auth.Viewer, balance, owed int64, reason *wallet.FrozenReason) {
	t.Helper()
	w, err := f.ledger.Wallet(f.ctx, v.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if w.Balance != balance || w.AmountOwed != owed || (w.FrozenReason == nil) != (reason == nil) ||
		(reason != nil && *w.FrozenReason != *reason) || w.IsFrozen != (reason != nil) {
		t.Fatalf("wallet: balance %d, owed %d, frozen %v (%v); want %d, %d, %v", w.Balance, w.AmountOwed, w.IsFrozen, w.FrozenReason, balance, owed, reason)
	}
	f.verify(t)
}

// TestOutsideRefundsInStepsAndAnyOrder: refunds made in the Dashboard one
// after another are booked by their running total, each part once; an
// older event arriving late books nothing; a refund of a deposit whose
// payment event has not arrived yet is refused (Stripe delivers it again)
// and booked once the payment is; a charge that is not ours is ignored. An
// admin's freeze does not stop the money leaving, and the admin's note
// and the CHARGEBACK reason are kept apart; a wallet frozen only for what
// it owes takes deposits.
func TestOutsideRefundsInStepsAndAnyOrder(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		u := f.user(t, role.Customer)
		admin := f.user(t, role.Admin)
		chargeback, adminReason := wallet.FrozenReasonCHARGEBACK, wallet.FrozenReasonADMIN

		// Refunded before its payment is recorded: refused, nothing booked.
		res, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 5000, PaymentMethodID: "pm_card_visa"})
		if err != nil {
			t.Fatal(err)
		}
		pi := *res.PaymentIntentID
		if err := f.deliver(refundedEvent("ch_1", pi, 5000, 1000)); err == nil || !strings.Contains(err.Error(), "before its payment") {
			t.Fatalf("refund before the payment: %v", err)
		}
		f.mustDeliver(t, succeeded(res))
		f.owes(t, u, 5000, 0, nil)

		// Stripe's retry, then a second refund in the Dashboard, then the
		// first one's event late: $10 and then $50 in all.
		f.mustDeliver(t, refundedEvent("ch_1", pi, 5000, 1000))
		f.owes(t, u, 4000, 0, nil)
		if _, err := f.svc.FreezeWallet(f.ctx, admin, u.UserID, "Looks odd"); err != nil {
			t.Fatal(err)
		}
		f.mustDeliver(t, refundedEvent("ch_1", pi, 5000, 5000))
		f.owes(t, u, 0, 0, &adminReason)
		f.mustDeliver(t, refundedEvent("ch_1", pi, 5000, 1000))
		f.owes(t, u, 0, 0, &adminReason)

		// A second deposit refunded in full after it was held for an offer:
		// the held part is owed.
		// (An admin's freeze refuses new deposits.)
		_, err = f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 2000, PaymentMethodID: "pm_card_visa"})
		requireCode(t, "deposit to an admin-frozen wallet", err, jobsphere.WalletFrozen, "")
		if _, err := f.svc.UnfreezeWallet(f.ctx, admin, u.UserID); err != nil {
			t.Fatal(err)
		}
		second, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 2000, PaymentMethodID: "pm_card_visa"})
		if err != nil {
			t.Fatal(err)
		}
		f.mustDeliver(t, succeeded(second))
		f.owes(t, u, 2000, 0, nil)
		hold(t, f, u, 1500)
		if _, err := f.svc.FreezeWallet(f.ctx, admin, u.UserID, "Looks odd"); err != nil {
			t.Fatal(err)
		}
		f.mustDeliver(t, refundedEvent("ch_2", *second.PaymentIntentID, 2000, 2000))
		f.owes(t, u, 0, 1500, &chargeback)
		// The admin lifts their freeze: still frozen for what is owed.
		if w, err := f.svc.UnfreezeWallet(f.ctx, admin, u.UserID); err != nil || !w.IsFrozen || *w.FrozenReason != chargeback || w.FrozenNote != nil {
			t.Fatalf("lift the admin's freeze of an owing wallet: %+v, %v", w, err)
		}
		_, err = f.svc.UnfreezeWallet(f.ctx, admin, u.UserID)
		requireCode(t, "unfreeze a CHARGEBACK freeze", err, jobsphere.Conflict, "Wallet is frozen for CHARGEBACK: it is lifted when nothing is owed ($15.00 is owed)")

		// Not ours: no deposit and no payment of ours has this intent.
		f.mustDeliver(t, refundedEvent("ch_other", "pi_someone_else", 9000, 9000))
		f.owes(t, u, 0, 1500, &chargeback)

		// A wallet frozen only for what it owes takes a deposit, which pays it back first.
		third, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 1000, PaymentMethodID: "pm_card_visa"})
		if err != nil {
			t.Fatal(err)
		}
		f.mustDeliver(t, succeeded(third))
		f.owes(t, u, 0, 500, &chargeback)
	})
}

// hold puts amount of u's available money in escrow, as an offer does.
func hold(t *testing.T, f *fixture, u auth.Viewer, amount int64) {
	t.Helper()
	tx, err := f.client.Tx(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ledger.Post(f.ctx, tx.Client(), ledger.Entry{Key: "hold:" + string(u.UserID), Type: ledgertransaction.TypeESCROW_HOLD,
		Moves: []ledger.Move{{From: ledger.Available(u.UserID), To: ledger.Escrow(u.UserID), Amount: amount}}})
	if err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}
