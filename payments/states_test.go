package payments

import (
	"errors"
	"os"
	"testing"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/chargeback"
	"github.com/jobsphere/jobsphere/ent/connectaccount"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/schema"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/withdrawal"
)

func TestDepositMoves(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		u := f.user(t, role.Customer)
		made := func(s deposit.Status) *ent.Deposit {
			d, err := f.client.Deposit.Create().SetUserID(u.UserID).SetAmount(1000).SetMethod(deposit.MethodCHECKOUT).SetStatus(s).Save(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		dbtest.CheckTransitions(t, f.client, depositMoves, dbtest.Statuses[deposit.Status](t, schema.Deposit{}.Fields()),
			func(from deposit.Status) pulid.ID { return made(from).ID },
			func(tx *ent.Tx, id pulid.ID, to deposit.Status) error {
				return moveDeposit(f.ctx, tx.Client(), tx.Deposit.GetX(f.ctx, id), to, nil)
			},
			func(id pulid.ID) deposit.Status { return f.deposit(t, id).Status })
		// Moved since it was read, to a status that may still move on:
		// refused too, so that what was done with the status read holds.
		d := made(deposit.StatusPENDING)
		if err := f.client.Deposit.UpdateOne(d).SetStatus(deposit.StatusFAILED).Exec(f.ctx); err != nil {
			t.Fatal(err)
		}
		if err := moveDeposit(f.ctx, f.client, d, deposit.StatusSUCCEEDED, nil); !errors.Is(err, errConcurrentSettlement) {
			t.Fatalf("move of a deposit read PENDING, now FAILED: %v", err)
		}
	})
}

func TestWithdrawalMoves(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		u := f.user(t, role.Contractor)
		move := func(w *ent.Withdrawal, to withdrawal.Status) (withdrawal.Status, error) {
			err := f.client.WithTx(f.ctx, func(tx *ent.Tx) error {
				return moveWithdrawal(f.ctx, tx, w, to, func(*ent.WithdrawalUpdate) {})
			})
			now, gerr := f.client.Withdrawal.Get(f.ctx, w.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			return now.Status, err
		}
		made := func(s withdrawal.Status) *ent.Withdrawal {
			w, err := f.client.Withdrawal.Create().SetUserID(u.UserID).SetAmount(1000).SetStatus(s).Save(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			return w
		}
		dbtest.CheckTransitions(t, f.client, withdrawalMoves, dbtest.Statuses[withdrawal.Status](t, schema.Withdrawal{}.Fields()),
			func(from withdrawal.Status) pulid.ID { return made(from).ID },
			func(tx *ent.Tx, id pulid.ID, to withdrawal.Status) error {
				return moveWithdrawal(f.ctx, tx, tx.Withdrawal.GetX(f.ctx, id), to, func(*ent.WithdrawalUpdate) {})
			},
			func(id pulid.ID) withdrawal.Status { return f.client.Withdrawal.GetX(f.ctx, id).Status })
		// Read PENDING, completed since: the stale read fails nothing.
		w := made(withdrawal.StatusPENDING)
		if err := f.client.Withdrawal.UpdateOne(w).SetStatus(withdrawal.StatusCOMPLETED).Exec(f.ctx); err != nil {
			t.Fatal(err)
		}
		if now, err := move(w, withdrawal.StatusFAILED); now != withdrawal.StatusCOMPLETED || jobsphere.ErrorCode(err) != jobsphere.Conflict {
			t.Fatalf("fail a withdrawal read PENDING, now COMPLETED: %v, row %s", err, now)
		}
	})
}

func TestConnectAccountMoves(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		move := func(a *ent.ConnectAccount, to connectaccount.Status) (connectaccount.Status, error) {
			err := f.client.WithTx(f.ctx, func(tx *ent.Tx) error {
				return moveConnectAccount(f.ctx, tx, a, to, func(*ent.ConnectAccountUpdate) {})
			})
			now, gerr := f.client.ConnectAccount.Get(f.ctx, a.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			return now.Status, err
		}
		made := func(s connectaccount.Status) *ent.ConnectAccount {
			u := f.user(t, role.Contractor)
			a, err := f.client.ConnectAccount.Create().SetUserID(u.UserID).SetStripeAccountID("acct_" + string(u.UserID)).SetStatus(s).Save(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		dbtest.CheckTransitions(t, f.client, connectMoves, dbtest.Statuses[connectaccount.Status](t, schema.ConnectAccount{}.Fields()),
			func(from connectaccount.Status) pulid.ID { return made(from).ID },
			func(tx *ent.Tx, id pulid.ID, to connectaccount.Status) error {
				return moveConnectAccount(f.ctx, tx, tx.ConnectAccount.GetX(f.ctx, id), to, func(*ent.ConnectAccountUpdate) {})
			},
			func(id pulid.ID) connectaccount.Status { return f.client.ConnectAccount.GetX(f.ctx, id).Status })
		// Read PENDING, verified since: a stale read moves nothing.
		a := made(connectaccount.StatusPENDING)
		if err := f.client.ConnectAccount.UpdateOne(a).SetStatus(connectaccount.StatusVERIFIED).Exec(f.ctx); err != nil {
			t.Fatal(err)
		}
		if now, err := move(a, connectaccount.StatusREJECTED); now != connectaccount.StatusVERIFIED || jobsphere.ErrorCode(err) != jobsphere.Conflict {
			t.Fatalf("move an account read PENDING, now VERIFIED: %v, row %s", err, now)
		}
	})
}

func TestChargebackMoves(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		u := f.user(t, role.Customer)
		dbtest.CheckTransitions(t, f.client, chargebackMoves, dbtest.Statuses[chargeback.Status](t, schema.Chargeback{}.Fields()),
			func(from chargeback.Status) pulid.ID {
				return f.client.Chargeback.Create().SetCustomerID(u.UserID).SetStripeDisputeID(string(pulid.New("dp"))).
					SetStripePaymentIntentID("pi_x").SetAmount(1000).SetStatus(from).SaveX(f.ctx).ID
			},
			func(tx *ent.Tx, id pulid.ID, to chargeback.Status) error {
				return moveChargeback(f.ctx, tx.Client(), id, to, nil)
			},
			func(id pulid.ID) chargeback.Status { return f.client.Chargeback.GetX(f.ctx, id).Status })
	})
}

// TestStateMachinesDocumented: docs/state-machines.md shows each table as
// the code has it.
func TestStateMachinesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/state-machines.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{depositMoves.DocumentedIn(string(doc)), withdrawalMoves.DocumentedIn(string(doc)),
		connectMoves.DocumentedIn(string(doc)), chargebackMoves.DocumentedIn(string(doc))} {
		if err != nil {
			t.Error(err)
		}
	}
}
