package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/chargeback"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/wallet"
	"github.com/jobsphere/jobsphere/ledger"
)

// A chargeback of $100 with a $15 fee on a wallet holding $30 (and $70 in
// escrow): $30 from available, $70 owed, $15 lost; the escrow stays. Once
// per dispute. A deposit pays the $70 back; the reversal then gives the
// $100 to available (nothing of it is owed any more), returns the fee,
// marks the chargeback REVERSED, once. The ledger verifies after each step.
func TestChargebackAndItsReversal(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		ctx := context.Background()
		customer := newUser(t, app, role.Customer)
		credit := func(key string, amount int64) {
			t.Helper()
			if _, err := inTx(t, app, func(tx *ent.Client) (*ledger.Posted, error) {
				return app.Ledger.CreditFromOutside(ctx, tx, customer, amount, ledger.Entry{Key: key, Type: ledgertransaction.TypeDEPOSIT})
			}); err != nil {
				t.Fatal(err)
			}
		}
		withdraw := func() (*ledger.Posted, error) {
			return inTx(t, app, func(tx *ent.Client) (*ledger.Posted, error) {
				return app.Ledger.Chargeback(ctx, tx, customer, "dp_1", 10000, 1500, ledger.Entry{Description: "chargeback"})
			})
		}
		reinstate := func(dispute string) (*ledger.Posted, error) {
			return inTx(t, app, func(tx *ent.Client) (*ledger.Posted, error) {
				return app.Ledger.ChargebackReversal(ctx, tx, customer, dispute, 10000, 1500, ledger.Entry{Description: "won"})
			})
		}
		credit("dep:1", 10000)
		if _, err := post(t, app, ledger.Entry{Key: "hold:1", Type: ledgertransaction.TypeESCROW_HOLD,
			Moves: []ledger.Move{{From: ledger.Available(customer), To: ledger.Escrow(customer), Amount: 7000}}}); err != nil {
			t.Fatal(err)
		}
		// Nothing withdrawn yet: nothing to reinstate.
		if _, err := reinstate("dp_1"); err == nil || !strings.Contains(err.Error(), "no funds withdrawn") {
			t.Fatalf("reinstate before the withdrawal: %v", err)
		}

		first, err := withdraw()
		if err != nil {
			t.Fatal(err)
		}
		if p, err := withdraw(); err != nil || !p.Replayed || p.Transaction.ID != first.Transaction.ID {
			t.Fatalf("the withdrawal again: %+v, %v; want the first replayed", p, err)
		}
		w := wantWallet(t, app, customer, 0, 7000, reasonOf(wallet.FrozenReasonCHARGEBACK))
		if w.EscrowBalance != 7000 || first.Transaction.Type != ledgertransaction.TypeCHARGEBACK {
			t.Fatalf("escrow %d, type %s: the held money stays, the transaction is a CHARGEBACK", w.EscrowBalance, first.Transaction.Type)
		}
		if r := requireVerified(t, app); r.Losses != -1500 || r.Receivable != -7000 || r.Available != 0 || r.Escrow != 7000 {
			t.Fatalf("after the chargeback: %+v", r)
		}

		credit("dep:2", 10000)
		wantWallet(t, app, customer, 3000, 0, nil)
		requireVerified(t, app)

		back, err := reinstate("dp_1")
		if err != nil {
			t.Fatal(err)
		}
		if p, err := reinstate("dp_1"); err != nil || !p.Replayed || p.Transaction.ID != back.Transaction.ID {
			t.Fatalf("the reinstatement again: %+v, %v; want the first replayed", p, err)
		}
		wantWallet(t, app, customer, 13000, 0, nil)
		if r := requireVerified(t, app); r.Losses != 0 || r.Receivable != 0 || r.Available != 13000 {
			t.Fatalf("after the reversal: %+v", r)
		}
		orig := app.Client.LedgerTransaction.GetX(ctx, first.Transaction.ID)
		if orig.Status != ledgertransaction.StatusREVERSED || back.Transaction.Type != ledgertransaction.TypeCHARGEBACK_REVERSAL ||
			back.Transaction.ReversalOfID == nil || *back.Transaction.ReversalOfID != orig.ID {
			t.Fatalf("chargeback %s, reversal %+v: want REVERSED by the CHARGEBACK_REVERSAL", orig.Status, back.Transaction)
		}
	})
}

// Reinstated while still owed: what is owed of the chargeback is paid back
// first, the rest becomes available; a fee Stripe keeps stays lost.
func TestChargebackReversalPaysWhatIsOwedFirst(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		ctx := context.Background()
		customer := newUser(t, app, role.Customer)
		if _, err := post(t, app, ledger.Entry{Key: "dep:1", Type: ledgertransaction.TypeDEPOSIT,
			Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(customer), Amount: 2000}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := inTx(t, app, func(tx *ent.Client) (*ledger.Posted, error) {
			return app.Ledger.Chargeback(ctx, tx, customer, "dp_2", 5000, 1500, ledger.Entry{})
		}); err != nil {
			t.Fatal(err)
		}
		wantWallet(t, app, customer, 0, 3000, reasonOf(wallet.FrozenReasonCHARGEBACK))
		p, err := inTx(t, app, func(tx *ent.Client) (*ledger.Posted, error) {
			return app.Ledger.ChargebackReversal(ctx, tx, customer, "dp_2", 5000, 0, ledger.Entry{})
		})
		if err != nil {
			t.Fatal(err)
		}
		wantWallet(t, app, customer, 2000, 0, nil)
		if p.Transaction.Amount != 5000 {
			t.Fatalf("reversal of %d, want 5000 (3000 owed back, 2000 available)", p.Transaction.Amount)
		}
		if r := requireVerified(t, app); r.Losses != -1500 {
			t.Fatalf("losses %d: the fee Stripe kept stays lost", r.Losses)
		}
	})
}

// An open chargeback case freezes the wallet for CHARGEBACK even when
// nothing is owed, an unresolved fraud warning for FRAUD_WARNING; neither
// is an admin's to lift, and a fraud warning refuses deposits. Closing and
// resolving them (RefreshCaseHolds) lifts the freeze; Verify checks the
// holds against the cases.
func TestCaseHoldsFreezeTheWallet(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		ctx := context.Background()
		customer := newUser(t, app, role.Customer)
		refresh := func() (bool, bool) {
			t.Helper()
			var was, now bool
			err := app.Client.WithTx(ctx, func(tx *ent.Tx) error {
				var err error
				was, now, err = app.Ledger.RefreshCaseHolds(ctx, tx.Client(), customer)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return was, now
		}
		lift := func() error {
			_, err := app.Ledger.SetAdminFreeze(ctx, app.Client, customer, nil)
			return err
		}
		cb := app.Client.Chargeback.Create().SetCustomerID(customer).SetStripeDisputeID("dp_3").
			SetStripePaymentIntentID("pi_3").SetAmount(1000).SaveX(ctx)
		// Written past the ledger: Verify sees the wallet's holds disagree.
		r, err := app.Ledger.Verify(ctx)
		if err != nil || !strings.Contains(strings.Join(r.Problems, "\n"), "holds an open chargeback false and fraud warning false, its cases say true and false") {
			t.Fatalf("Verify of an open case the wallet does not hold: %v %v", r.Problems, err)
		}
		if was, now := refresh(); was || !now {
			t.Fatalf("open case: frozen before %v, after %v", was, now)
		}
		wantWallet(t, app, customer, 0, 0, reasonOf(wallet.FrozenReasonCHARGEBACK))
		requireVerified(t, app)
		if err := lift(); jobsphere.ErrorCode(err) != jobsphere.Conflict || !strings.Contains(err.Error(), "lifted when the chargeback is closed") {
			t.Fatalf("lift a chargeback's freeze: %v", err)
		}

		efw := app.Client.FraudWarning.Create().SetCustomerID(customer).SetStripeWarningID("issfr_1").
			SetStripePaymentIntentID("pi_4").SaveX(ctx)
		refresh()
		// CHARGEBACK shows before FRAUD_WARNING; both hold.
		w := wantWallet(t, app, customer, 0, 0, reasonOf(wallet.FrozenReasonCHARGEBACK))
		if !w.ChargebackOpen || !w.FraudWarningOpen {
			t.Fatalf("holds %v %v", w.ChargebackOpen, w.FraudWarningOpen)
		}
		if err := ledger.AcceptsDeposits(w); jobsphere.ErrorCode(err) != jobsphere.WalletFrozen {
			t.Fatalf("deposit with a fraud warning: %v", err)
		}
		app.Client.Chargeback.DeleteOne(cb).ExecX(ctx)
		app.Client.Chargeback.Create().SetCustomerID(customer).SetStripeDisputeID("dp_3").SetStripePaymentIntentID("pi_3").
			SetAmount(1000).SetStatus(chargeback.StatusWON).SetClosedAt(time.Now()).ExecX(ctx)
		if was, now := refresh(); !was || !now {
			t.Fatalf("case closed, warning open: frozen before %v, after %v", was, now)
		}
		wantWallet(t, app, customer, 0, 0, reasonOf(wallet.FrozenReasonFRAUD_WARNING))
		if err := lift(); jobsphere.ErrorCode(err) != jobsphere.Conflict || !strings.Contains(err.Error(), "frozen for FRAUD_WARNING") {
			t.Fatalf("lift a fraud warning's freeze: %v", err)
		}
		// An admin's freeze on top: lifting it leaves FRAUD_WARNING.
		note := "review"
		if _, err := app.Ledger.SetAdminFreeze(ctx, app.Client, customer, &note); err != nil {
			t.Fatal(err)
		}
		if frozen, err := app.Ledger.SetAdminFreeze(ctx, app.Client, customer, nil); err != nil || !frozen {
			t.Fatalf("lift the admin's freeze: frozen %v, %v", frozen, err)
		}
		app.Client.FraudWarning.UpdateOne(efw).SetResolvedAt(time.Now()).ExecX(ctx)
		if was, now := refresh(); !was || now {
			t.Fatalf("warning resolved: frozen before %v, after %v", was, now)
		}
		w = wantWallet(t, app, customer, 0, 0, nil)
		if err := ledger.AcceptsDeposits(w); err != nil {
			t.Fatal(err)
		}
		requireVerified(t, app)
	})
}

// RefundToCard refunds what the balance holds, up to the amount asked,
// through a freeze; nothing (nil) from an empty balance.
func TestRefundToCard(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		ctx := context.Background()
		customer := newUser(t, app, role.Customer)
		refund := func(key string, upTo int64) (*ledger.Posted, error) {
			return inTx(t, app, func(tx *ent.Client) (*ledger.Posted, error) {
				return app.Ledger.RefundToCard(ctx, tx, customer, upTo, ledger.Entry{Key: key, Type: ledgertransaction.TypeREFUND})
			})
		}
		if p, err := refund("r:0", 1000); p != nil || err != nil {
			t.Fatalf("refund of an empty wallet: %+v, %v", p, err)
		}
		if _, err := post(t, app, ledger.Entry{Key: "dep:1", Type: ledgertransaction.TypeDEPOSIT,
			Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(customer), Amount: 3000}}}); err != nil {
			t.Fatal(err)
		}
		note := "review"
		if _, err := app.Ledger.SetAdminFreeze(ctx, app.Client, customer, &note); err != nil {
			t.Fatal(err)
		}
		p, err := refund("r:1", 10000)
		if err != nil || p.Transaction.Amount != 3000 {
			t.Fatalf("refund of up to 100.00 from 30.00: %+v, %v", p, err)
		}
		if again, err := refund("r:1", 10000); err != nil || !again.Replayed {
			t.Fatalf("the refund again: %+v, %v", again, err)
		}
		wantWallet(t, app, customer, 0, 0, reasonOf(wallet.FrozenReasonADMIN))
		requireVerified(t, app)
	})
}
