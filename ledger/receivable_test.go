package ledger_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgeraccount"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/wallet"
	"github.com/jobsphere/jobsphere/ledger"
)

// inTx runs call in its own database transaction, committed when it
// succeeds.
func inTx(t *testing.T, app *world, call func(*ent.Client) (*ledger.Posted, error)) (*ledger.Posted, error) {
	t.Helper()
	tx, err := app.Client.Tx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, err := call(tx.Client())
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return p, tx.Commit()
}

func wantWallet(t *testing.T, app *world, user pulid.ID, available, owed int64, reason *wallet.FrozenReason) *ent.Wallet {
	t.Helper()
	w, err := app.Ledger.Wallet(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	if w.Balance != available || w.AmountOwed != owed || w.IsFrozen != (reason != nil) ||
		(reason != nil && (w.FrozenReason == nil || *w.FrozenReason != *reason)) || (reason == nil && w.FrozenReason != nil) {
		t.Fatalf("wallet: available %d, owed %d, frozen %v for %v; want %d, %d, reason %v",
			w.Balance, w.AmountOwed, w.IsFrozen, w.FrozenReason, available, owed, reason)
	}
	return w
}

func reasonOf(r wallet.FrozenReason) *wallet.FrozenReason { return &r }

// A user's RECEIVABLE is the only user account that may go below zero:
// money the outside world takes back beyond the available balance is
// owed, freezes the wallet (CHARGEBACK) through an admin's freeze, and the
// next money in pays it back first, lifting the freeze.
func TestReceivableIsTheOnlyUserAccountBelowZero(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		ctx := context.Background()
		customer := newUser(t, app, role.Customer)
		deposit := func(key string, amount int64) (*ledger.Posted, error) {
			return inTx(t, app, func(tx *ent.Client) (*ledger.Posted, error) {
				return app.Ledger.CreditFromOutside(ctx, tx, customer, amount, ledger.Entry{Key: key, Type: ledgertransaction.TypeDEPOSIT})
			})
		}
		takeBack := func(key string, amount int64) (*ledger.Posted, error) {
			return inTx(t, app, func(tx *ent.Client) (*ledger.Posted, error) {
				return app.Ledger.TakeBack(ctx, tx, customer, amount, ledger.Entry{Key: key, Type: ledgertransaction.TypeREFUND})
			})
		}
		if _, err := deposit("dep:1", 10000); err != nil {
			t.Fatal(err)
		}
		if _, err := post(t, app, ledger.Entry{Key: "hold:1", Type: ledgertransaction.TypeESCROW_HOLD,
			Moves: []ledger.Move{{From: ledger.Available(customer), To: ledger.Escrow(customer), Amount: 7000}}}); err != nil {
			t.Fatal(err)
		}
		// Available cannot go below zero, even by a direct debit.
		if _, err := post(t, app, ledger.Entry{Key: "over", Type: ledgertransaction.TypeREFUND,
			Moves: []ledger.Move{{From: ledger.Available(customer), To: ledger.External, Amount: 3001}}}); jobsphere.ErrorCode(err) != jobsphere.InsufficientFunds {
			t.Fatalf("available below zero: %v", err)
		}
		// An admin's freeze does not stop the outside world taking money back.
		note := "review"
		if _, err := app.Ledger.SetAdminFreeze(ctx, app.Client, customer, &note); err != nil {
			t.Fatal(err)
		}
		if _, err := takeBack("back:1", 10000); err != nil {
			t.Fatal(err)
		}
		w := wantWallet(t, app, customer, 0, 7000, reasonOf(wallet.FrozenReasonCHARGEBACK))
		if w.EscrowBalance != 7000 {
			t.Fatalf("escrow %d: money held stays where it is", w.EscrowBalance)
		}
		// A replay is the first result, whatever the wallet holds now.
		if p, err := takeBack("back:1", 10000); err != nil || !p.Replayed {
			t.Fatalf("replayed take-back: %v %+v", err, p)
		}
		r := requireVerified(t, app)
		if r.Receivable != -7000 || r.Available != 0 {
			t.Fatalf("report %+v", r)
		}
		// The admin lifts their freeze; the wallet stays frozen for what is owed.
		if frozen, err := app.Ledger.SetAdminFreeze(ctx, app.Client, customer, nil); err != nil || !frozen {
			t.Fatalf("lift the admin's freeze of an owing wallet: frozen %v, %v", frozen, err)
		}
		wantWallet(t, app, customer, 0, 7000, reasonOf(wallet.FrozenReasonCHARGEBACK))
		// CHARGEBACK is not an admin's to lift.
		_, err := app.Ledger.SetAdminFreeze(ctx, app.Client, customer, nil)
		if jobsphere.ErrorCode(err) != jobsphere.Conflict || !strings.Contains(err.Error(), "frozen for CHARGEBACK") {
			t.Fatalf("lift a CHARGEBACK freeze: %v", err)
		}
		// A receivable never goes above zero: paying back more than is owed is refused.
		if _, err := post(t, app, ledger.Entry{Key: "overpay", Type: ledgertransaction.TypeDEPOSIT,
			Moves: []ledger.Move{{From: ledger.External, To: ledger.Receivable(customer), Amount: 7001}}}); jobsphere.ErrorCode(err) != jobsphere.InsufficientFunds {
			t.Fatalf("receivable above zero: %v", err)
		}
		// Money in pays back first; nothing owed, the freeze lifts itself.
		if _, err := deposit("dep:2", 4000); err != nil {
			t.Fatal(err)
		}
		wantWallet(t, app, customer, 0, 3000, reasonOf(wallet.FrozenReasonCHARGEBACK))
		if _, err := deposit("dep:3", 10000); err != nil {
			t.Fatal(err)
		}
		wantWallet(t, app, customer, 7000, 0, nil)
		r = requireVerified(t, app)
		if r.Receivable != 0 || r.Available != 7000 || r.Escrow != 7000 {
			t.Fatalf("report %+v", r)
		}
	})
}

// The platform's LOSSES only go down: a loss recovered gives back at most
// what was lost, and Verify reports a LOSSES or RECEIVABLE above zero.
func TestLossesOnlyGoDown(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		ctx := context.Background()
		if _, err := post(t, app, ledger.Entry{Key: "fee:1", Type: ledgertransaction.TypeREFUND,
			Moves: []ledger.Move{{From: ledger.Losses, To: ledger.External, Amount: 1500}}}); err != nil {
			t.Fatal(err)
		}
		_, err := post(t, app, ledger.Entry{Key: "fee:1:back", Type: ledgertransaction.TypeREFUND,
			Moves: []ledger.Move{{From: ledger.External, To: ledger.Losses, Amount: 1501}}})
		if jobsphere.ErrorCode(err) != jobsphere.InsufficientFunds || !strings.Contains(err.Error(), "Returned: $15.01, Lost: $15.00") {
			t.Fatalf("losses above zero: %v", err)
		}
		if _, err := post(t, app, ledger.Entry{Key: "fee:1:back", Type: ledgertransaction.TypeREFUND,
			Moves: []ledger.Move{{From: ledger.External, To: ledger.Losses, Amount: 500}}}); err != nil {
			t.Fatal(err)
		}
		r := requireVerified(t, app)
		if r.Losses != -1000 {
			t.Fatalf("losses %d", r.Losses)
		}
		stats, err := app.Ledger.Stats(ctx)
		if err != nil || stats.Losses != 1000 || stats.Receivables != 0 {
			t.Fatalf("stats %+v, %v", stats, err)
		}

		// Verify sees a positive LOSSES or RECEIVABLE written past the
		// ledger (postings that also break their transaction's pairs).
		customer := newUser(t, app, role.Customer)
		txn, err := post(t, app, ledger.Entry{Key: "dep:1", Type: ledgertransaction.TypeDEPOSIT,
			Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(customer), Amount: 100}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []ledger.Account{ledger.Losses, ledger.Receivable(customer)} {
			acc, err := app.Client.LedgerAccount.Query().Where(ledgeraccount.Code(a.Code())).Only(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := app.Client.Posting.Create().SetTransactionID(txn.Transaction.ID).SetAccountID(acc.ID).SetAmount(2000).SetMove(9).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// And a wallet whose cached amount owed or freeze disagrees.
		if err := app.Client.Wallet.Update().Where(wallet.UserID(customer)).SetAmountOwed(5).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		r, err = app.Ledger.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		problems := strings.Join(r.Problems, "\n")
		for _, want := range []string{"platform:losses is positive", string(customer) + ":receivable is positive", "cached amountOwed 5, postings say 0", "frozen false for none, its reasons say CHARGEBACK"} {
			if !strings.Contains(problems, want) {
				t.Errorf("Verify does not report %q:\n%s", want, problems)
			}
		}
	})
}

// olderWallet is a customer whose wallet was opened before RECEIVABLE
// existed: it has no such account yet. The wallet is opened by another
// replica's ledger, so that app's has cached none of its accounts.
func olderWallet(t *testing.T, app *world) pulid.ID {
	t.Helper()
	customer := newUser(t, &world{Client: app.Client, Ledger: ledger.New(app.Client, jobsphere.USD, false)}, role.Customer)
	if _, err := app.Client.LedgerAccount.Delete().Where(ledgeraccount.Code(ledger.Receivable(customer).Code())).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	return customer
}

// A wallet opened before RECEIVABLE existed gets the account on first use.
func TestReceivableCreatedForOlderWallets(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		ctx := context.Background()
		customer := olderWallet(t, app)
		if _, err := inTx(t, app, func(tx *ent.Client) (*ledger.Posted, error) {
			return app.Ledger.TakeBack(ctx, tx, customer, 2500, ledger.Entry{Key: "back:1", Type: ledgertransaction.TypeREFUND})
		}); err != nil {
			t.Fatal(err)
		}
		wantWallet(t, app, customer, 0, 2500, reasonOf(wallet.FrozenReasonCHARGEBACK))
		requireVerified(t, app)
	})
}

// TestAccountCacheSurvivesRollback: a wallet opened before RECEIVABLE
// existed gets the account on first use, and one transaction may create it
// and post to it again (funds_reinstated arriving before funds_withdrawn)
// before rolling back. The ledger must not keep the rolled-back account's
// id: Stripe's redelivery then books as on a fresh process.
func TestAccountCacheSurvivesRollback(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		ctx := context.Background()
		customer := olderWallet(t, app)
		// funds_reinstated before funds_withdrawn, in one webhook transaction
		// that then fails and rolls back (Stripe will deliver it again).
		tx, err := app.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := app.Ledger.Chargeback(ctx, tx.Client(), customer, "dp_1", 2500, 0, ledger.Entry{Description: "chargeback"}); err != nil {
			t.Fatal(err)
		}
		if _, err := app.Ledger.ChargebackReversal(ctx, tx.Client(), customer, "dp_1", 2500, 0, ledger.Entry{Description: "reversal"}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}

		// Stripe delivers the event again: it must book as on a fresh process.
		_, err = inTx(t, app, func(tx *ent.Client) (*ledger.Posted, error) {
			return app.Ledger.Chargeback(ctx, tx, customer, "dp_1", 2500, 0, ledger.Entry{Description: "chargeback"})
		})
		if err != nil {
			t.Fatalf("the redelivered chargeback after a rollback: %v (a fresh Ledger books it)", err)
		}
		wantWallet(t, app, customer, 0, 2500, reasonOf(wallet.FrozenReasonCHARGEBACK))
		// And any other post to the receivable, too.
		if _, err := post(t, app, ledger.Entry{Key: "pay-back", Type: ledgertransaction.TypeDEPOSIT,
			Moves: []ledger.Move{{From: ledger.External, To: ledger.Receivable(customer), Amount: 100}}}); err != nil {
			t.Fatalf("a deposit paying back: %v", err)
		}
		requireVerified(t, app)
	})
}
