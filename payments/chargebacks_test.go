package payments

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent/chargeback"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/wallet"
	"github.com/jobsphere/jobsphere/ledger"
)

// disputeEvent is one of a dispute's events on payment intent pi: Stripe
// status st, what its balance transactions withdrew and reinstated.
func disputeEvent(typ EventType, id, pi, st string, withdrawn, fee, reinstated, feeBack int64) Event {
	return Event{Type: typ, Dispute: &EventDispute{ID: id, ChargeID: "ch_" + pi, PaymentIntentID: pi, Amount: 5000,
		Currency: "usd", Reason: "fraudulent", Status: st,
		Withdrawn: withdrawn, WithdrawnFee: fee, Reinstated: reinstated, FeeReturned: feeBack}}
}

// TestDisputeEventsInAnyOrder: a dispute's four events, each delivered
// twice, in every one of many shuffled orders, end the same way: the case
// WON, the money withdrawn and reinstated once each (the reinstatement's
// payload books the withdrawal when it comes first), the fee returned,
// the wallet unfrozen; the ledger verifies.
func TestDisputeEventsInAnyOrder(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		rng := rand.New(rand.NewPCG(16, 3))
		for round := range 12 {
			u := f.user(t, role.Customer)
			res, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 5000, PaymentMethodID: "pm_card_visa"})
			if err != nil {
				t.Fatal(err)
			}
			f.mustDeliver(t, succeeded(res))
			pi, id := *res.PaymentIntentID, "dp_"+string(u.UserID)
			events := []Event{
				disputeEvent(ChargeDisputeCreated, id, pi, "needs_response", 5000, 1500, 0, 0),
				disputeEvent(ChargeDisputeFundsWithdrawn, id, pi, "needs_response", 5000, 1500, 0, 0),
				disputeEvent(ChargeDisputeFundsReinstated, id, pi, "under_review", 5000, 1500, 5000, 1500),
				disputeEvent(ChargeDisputeClosed, id, pi, "won", 5000, 1500, 5000, 1500),
			}
			events = append(events, events...)
			rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
			for _, ev := range events {
				f.mustDeliver(t, ev)
			}
			cb, err := f.client.Chargeback.Query().Where(chargeback.StripeDisputeID(id)).Only(f.ctx)
			if err != nil || cb.Status != chargeback.StatusWON || cb.Fee != 0 || cb.ClosedAt == nil || cb.DepositID == nil || *cb.DepositID != res.Deposit.ID {
				t.Fatalf("round %d: case %+v, %v", round, cb, err)
			}
			f.owes(t, u, 5000, 0, nil)
			for _, typ := range []ledgertransaction.Type{ledgertransaction.TypeCHARGEBACK, ledgertransaction.TypeCHARGEBACK_REVERSAL} {
				// The customer's, and the dispute fee's.
				if n := f.client.LedgerTransaction.Query().Where(ledgertransaction.TypeEQ(typ), ledgertransaction.StripePaymentIntentID(pi)).CountX(f.ctx); n != 2 {
					t.Fatalf("round %d: %d %s transactions", round, n, typ)
				}
			}
		}
		stats, err := f.ledger.Stats(f.ctx)
		if err != nil || stats.Losses != 0 || stats.OpenChargebacks != 0 {
			t.Fatalf("stats %+v, %v", stats, err)
		}
	})
}

// TestLostChargebackOwesAndFreezes: lost, a chargeback's money stays
// taken; what the wallet could not cover is owed and keeps it frozen; a
// dispute of a payment that is not ours changes nothing.
func TestLostChargebackOwesAndFreezes(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		u := f.user(t, role.Customer)
		res, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 5000, PaymentMethodID: "pm_card_visa"})
		if err != nil {
			t.Fatal(err)
		}
		f.mustDeliver(t, succeeded(res))
		if _, err := f.ledger.Post(f.ctx, f.client, ledger.Entry{Key: "hold", Type: ledgertransaction.TypeESCROW_HOLD,
			Moves: []ledger.Move{{From: ledger.Available(u.UserID), To: ledger.Escrow(u.UserID), Amount: 2000}}}); err != nil {
			t.Fatal(err)
		}
		pi := *res.PaymentIntentID
		cbReason := wallet.FrozenReasonCHARGEBACK
		f.mustDeliver(t, disputeEvent(ChargeDisputeCreated, "dp_1", pi, "needs_response", 0, 0, 0, 0))
		f.owes(t, u, 3000, 0, &cbReason) // open: frozen before any money moved
		f.mustDeliver(t, disputeEvent(ChargeDisputeFundsWithdrawn, "dp_1", pi, "needs_response", 5000, 1500, 0, 0))
		f.owes(t, u, 0, 2000, &cbReason)
		f.mustDeliver(t, disputeEvent(ChargeDisputeClosed, "dp_1", pi, "lost", 5000, 1500, 0, 0))
		f.owes(t, u, 0, 2000, &cbReason) // closed, still owed
		if stats, err := f.ledger.Stats(f.ctx); err != nil || stats.Losses != 1500 || stats.Receivables != 2000 || stats.OpenChargebacks != 0 {
			t.Fatalf("stats %+v, %v", stats, err)
		}
		// Not ours: ignored.
		f.mustDeliver(t, disputeEvent(ChargeDisputeFundsWithdrawn, "dp_2", "pi_someone_else", "needs_response", 5000, 1500, 0, 0))
		if n := f.client.Chargeback.Query().CountX(f.ctx); n != 1 {
			t.Fatalf("%d cases", n)
		}
	})
}

// TestRefundDepositClaimedBeforeStripe: an admin's refund of a deposit's
// unspent money leaves the wallet before Stripe is asked; an answer lost
// (a timeout) leaves the claim, and the retry finishes it with the same
// Stripe key; Stripe's charge.refunded for it is ours and books nothing;
// a refusal gives the money back. The early fraud warning on the payment
// is resolved by the refund, its freeze lifted.
func TestRefundDepositClaimedBeforeStripe(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		u := f.user(t, role.Customer)
		admin := f.user(t, role.Admin)
		res, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 5000, PaymentMethodID: "pm_card_visa"})
		if err != nil {
			t.Fatal(err)
		}
		f.mustDeliver(t, succeeded(res))
		pi, dep := *res.PaymentIntentID, res.Deposit.ID
		if _, err := f.ledger.Post(f.ctx, f.client, ledger.Entry{Key: "hold", Type: ledgertransaction.TypeESCROW_HOLD,
			Moves: []ledger.Move{{From: ledger.Available(u.UserID), To: ledger.Escrow(u.UserID), Amount: 2000}}}); err != nil {
			t.Fatal(err)
		}
		fraud := wallet.FrozenReasonFRAUD_WARNING
		f.mustDeliver(t, Event{Type: RadarEarlyFraudWarningCreated, FraudWarning: &EventFraudWarning{ID: "issfr_1", ChargeID: "ch_1",
			PaymentIntentID: pi, FraudType: "made_with_stolen_card", Actionable: true}})
		f.owes(t, u, 3000, 0, &fraud)
		if _, err := f.svc.Deposit(f.ctx, u.UserID, DepositInput{Amount: 5000}); jobsphere.ErrorCode(err) != jobsphere.WalletFrozen {
			t.Fatalf("deposit with a fraud warning: %v", err)
		}

		if _, err := f.svc.RefundDeposit(f.ctx, u, dep); jobsphere.ErrorCode(err) != jobsphere.Forbidden {
			t.Fatalf("refundDeposit by its customer: %v", err)
		}
		// Stripe's answer is lost: the money is out, the claim stays.
		f.gw.script("refund", errors.New("timeout"))
		if _, err := f.svc.RefundDeposit(f.ctx, admin, dep); err == nil {
			t.Fatal("refund with Stripe's answer lost: no error")
		}
		if d := f.deposit(t, dep); d.RefundedAmount != 3000 || d.Status != deposit.StatusSUCCEEDED || d.RefundTransactionID == nil {
			t.Fatalf("claimed: %+v", d)
		}
		f.owes(t, u, 0, 0, &fraud)
		// Stripe's charge.refunded for it arrives meanwhile: ours.
		f.mustDeliver(t, refundedEvent("ch_1", pi, 5000, 3000))
		f.owes(t, u, 0, 0, &fraud)
		// The retry finishes it, with the same key.
		d, err := f.svc.RefundDeposit(f.ctx, admin, dep)
		if err != nil {
			t.Fatal(err)
		}
		if keys := f.gw.asked("refund"); len(keys) != 2 || keys[0] != keys[1] {
			t.Fatalf("refund keys %v: want the same key twice", keys)
		}
		if d.Status != deposit.StatusREFUNDED || d.RefundedAmount != 3000 || d.RefundTransactionID != nil {
			t.Fatalf("refunded: %+v", d)
		}
		f.owes(t, u, 0, 0, nil) // the warning is resolved
		if _, err := f.svc.RefundDeposit(f.ctx, admin, dep); jobsphere.ErrorCode(err) != jobsphere.Conflict {
			t.Fatalf("refund of a spent deposit: %v", err)
		}

		// The held money comes back; Stripe refuses its refund: back in the wallet.
		if _, err := f.ledger.Post(f.ctx, f.client, ledger.Entry{Key: "release", Type: ledgertransaction.TypeREFUND,
			Moves: []ledger.Move{{From: ledger.Escrow(u.UserID), To: ledger.Available(u.UserID), Amount: 2000}}}); err != nil {
			t.Fatal(err)
		}
		f.gw.script("refund", &RefusedError{Message: "Charge has been disputed", Err: errors.New("charge_disputed")})
		_, err = f.svc.RefundDeposit(f.ctx, admin, dep)
		requireCode(t, "refused refund", err, jobsphere.PaymentFailed, "Stripe refused the refund: Charge has been disputed")
		if d := f.deposit(t, dep); d.RefundedAmount != 3000 || d.RefundTransactionID != nil {
			t.Fatalf("after the refusal: %+v", d)
		}
		f.owes(t, u, 2000, 0, nil)
		// Asked again, Stripe agrees: the rest of it goes back.
		if d, err := f.svc.RefundDeposit(f.ctx, admin, dep); err != nil || d.RefundedAmount != 5000 {
			t.Fatalf("refund of the rest: %+v, %v", d, err)
		}
		f.owes(t, u, 0, 0, nil)
		_, err = f.svc.RefundDeposit(f.ctx, admin, dep)
		requireCode(t, "refund of a refunded deposit", err, jobsphere.Conflict, "This deposit is refunded in full already")
	})
}
