package payments

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/database/dbtest"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/connectaccount"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/withdrawal"
)

// everyMove tries every (from, to) pair of statuses on a row made in from:
// move moves it and returns the status the row is in after. A pair in the
// table moves; any other is refused by the conditional update with
// CONFLICT naming from, and the row stays as it was.
func everyMove[S ~string](t *testing.T, table jobsphere.Transitions[S], all []S, move func(from, to S) (S, error)) {
	t.Helper()
	for _, from := range all {
		for _, to := range all {
			now, err := move(from, to)
			switch {
			case table.Allows(from, to) && (err != nil || now != to):
				t.Errorf("%s %s → %s: %v, row %s; want moved", table.Name, from, to, err, now)
			case !table.Allows(from, to):
				var e *jobsphere.Error
				want := fmt.Sprintf("%s is %s", table.Name, from)
				if !errors.As(err, &e) || e.Code != jobsphere.Conflict || e.Message != want || now != from {
					t.Errorf("%s %s → %s: %v, row %s; want CONFLICT %q and the row unchanged", table.Name, from, to, err, now, want)
				}
			}
		}
	}
}

func TestDepositMoves(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		u := f.user(t, role.Customer)
		all := []deposit.Status{deposit.StatusPENDING, deposit.StatusREQUIRES_ACTION, deposit.StatusSUCCEEDED, deposit.StatusFAILED, deposit.StatusEXPIRED}
		made := func(s deposit.Status) *ent.Deposit {
			d, err := f.client.Deposit.Create().SetUserID(u.UserID).SetAmount(1000).SetMethod(deposit.MethodCHECKOUT).SetStatus(s).Save(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		everyMove(t, depositMoves, all, func(from, to deposit.Status) (deposit.Status, error) {
			d := made(from)
			err := moveDeposit(f.ctx, f.client, d, to, nil)
			return f.deposit(t, d.ID).Status, err
		})
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
		all := []withdrawal.Status{withdrawal.StatusPENDING, withdrawal.StatusCOMPLETED, withdrawal.StatusFAILED, withdrawal.StatusREJECTED}
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
		everyMove(t, withdrawalMoves, all, func(from, to withdrawal.Status) (withdrawal.Status, error) {
			return move(made(from), to)
		})
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
		everyMove(t, connectMoves, anyConnectStatus, func(from, to connectaccount.Status) (connectaccount.Status, error) {
			return move(made(from), to)
		})
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
