package payments

import (
	"errors"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent/connectaccount"
	"github.com/jobsphere/jobsphere/ent/withdrawal"
)

// contractor makes a contractor with amount available (a paid deposit)
// and a Connect account that Stripe reported verified.
func (f *fixture) contractor(t *testing.T, amount int64) auth.Viewer {
	t.Helper()
	v := f.user(t, role.Contractor)
	res, err := f.svc.Deposit(f.ctx, v.UserID, DepositInput{Amount: amount})
	if err != nil {
		t.Fatal(err)
	}
	f.mustDeliver(t, checkoutEvent(CheckoutSessionCompleted, res.Deposit.ID, true))
	onboarding, err := f.svc.CreateConnectAccount(f.ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	f.mustDeliver(t, accountEvent(onboarding.AccountID, time.Now(), true, ""))
	return v
}

// accountEvent is an account.updated of a connected account: verified
// (charges and payouts enabled, nothing due) or not, and disabled for
// disabled's reason.
func accountEvent(accountID string, at time.Time, verified bool, disabled string) Event {
	a := &EventConnectAccount{ID: accountID, ChargesEnabled: verified, PayoutsEnabled: verified, DetailsSubmitted: true, DisabledReason: disabled}
	if !verified {
		a.CurrentlyDue = []string{"external_account"}
	}
	return Event{Type: AccountUpdated, Account: accountID, Created: at, ConnectAccount: a}
}

func (f *fixture) withdraw(t *testing.T, v auth.Viewer, amount int64) *WithdrawResult {
	t.Helper()
	res, err := f.svc.Withdraw(f.ctx, v, WithdrawInput{Amount: amount})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func requireWithdrawal(t *testing.T, w *WithdrawResult, status withdrawal.Status, reason string) {
	t.Helper()
	got := ""
	if w.Withdrawal.FailureReason != nil {
		got = *w.Withdrawal.FailureReason
	}
	if w.Withdrawal.Status != status || got != reason {
		t.Fatalf("withdrawal: %s %q, want %s %q", w.Withdrawal.Status, got, status, reason)
	}
}

// TestWithdrawal: a transfer made completes the withdrawal and pays the
// money out; Stripe's reversal of it brings the money back, once.
func TestWithdrawal(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		v := f.contractor(t, 10000)
		res := f.withdraw(t, v, 4000)
		requireWithdrawal(t, res, withdrawal.StatusCOMPLETED, "")
		if keys := f.gw.asked("transfer"); len(keys) != 1 || keys[0] != "withdrawal:"+string(res.Withdrawal.ID) {
			t.Fatalf("transfer keys %v", keys)
		}
		f.wallet(t, v, 6000, 0)
		f.verify(t)
		reversed := Event{Type: TransferReversed, Transfer: &EventTransfer{ID: *res.Withdrawal.StripeTransferID}}
		f.mustDeliver(t, reversed)
		f.mustDeliver(t, reversed)
		f.mustDeliver(t, Event{Type: TransferReversed, Transfer: &EventTransfer{ID: "tr_not_ours"}})
		w, err := f.svc.withdrawResult(f.ctx, res.Withdrawal.ID)
		if err != nil {
			t.Fatal(err)
		}
		requireWithdrawal(t, w, withdrawal.StatusFAILED, "The transfer was reversed")
		f.wallet(t, v, 10000, 0)
		f.verify(t)
	})
}

// TestWithdrawalTransferRefusedOrUnsure: Stripe's refusal fails the
// withdrawal with its reason and gives the hold back; an answer that may
// hide a transfer made leaves it PENDING, and the sweep finishes it with
// the same key, once.
func TestWithdrawalTransferRefusedOrUnsure(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		v := f.contractor(t, 10000)
		f.gw.script("transfer", &RefusedError{Message: "Insufficient funds in the platform balance", Err: errors.New("stripe: 400")})
		requireWithdrawal(t, f.withdraw(t, v, 2000), withdrawal.StatusFAILED, "Transfer failed: Insufficient funds in the platform balance")
		f.wallet(t, v, 10000, 0)

		f.gw.script("transfer", errors.New("stripe: timeout"))
		unsure := f.withdraw(t, v, 3000)
		requireWithdrawal(t, unsure, withdrawal.StatusPENDING, "")
		f.wallet(t, v, 7000, 0)
		f.verify(t)
		for range 2 {
			if _, err := f.svc.SweepTransfers(f.ctx, 0); err != nil {
				t.Fatal(err)
			}
		}
		w, err := f.svc.withdrawResult(f.ctx, unsure.Withdrawal.ID)
		if err != nil {
			t.Fatal(err)
		}
		requireWithdrawal(t, w, withdrawal.StatusCOMPLETED, "")
		key := "withdrawal:" + string(unsure.Withdrawal.ID)
		if keys := f.gw.asked("transfer"); len(keys) != 3 || keys[1] != key || keys[2] != key {
			t.Fatalf("transfer keys %v, want the unsure one's twice", keys)
		}
		f.wallet(t, v, 7000, 0)
		f.verify(t)
	})
}

// TestWithdrawalApproval: with approval required, a withdrawal waits; an
// admin's rejection gives the money back and a second decision is refused
// naming the status.
func TestWithdrawalApproval(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		f.svc.cfg.RequireWithdrawalApproval = true
		v := f.contractor(t, 10000)
		admin := f.user(t, role.Admin)
		res := f.withdraw(t, v, 5000)
		requireWithdrawal(t, res, withdrawal.StatusPENDING, "")
		if _, err := f.svc.RejectWithdrawal(f.ctx, admin, res.Withdrawal.ID, "Suspicious"); err != nil {
			t.Fatal(err)
		}
		f.wallet(t, v, 10000, 0)
		_, err := f.svc.ApproveWithdrawal(f.ctx, admin, res.Withdrawal.ID)
		requireCode(t, "approve a rejected withdrawal", err, jobsphere.Conflict, "Withdrawal is REJECTED")
		_, err = f.svc.RejectWithdrawal(f.ctx, admin, res.Withdrawal.ID, "Again")
		requireCode(t, "reject a rejected withdrawal", err, jobsphere.Conflict, "Withdrawal is REJECTED")
		approved := f.withdraw(t, v, 2000)
		if _, err := f.svc.ApproveWithdrawal(f.ctx, admin, approved.Withdrawal.ID); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.RejectWithdrawal(f.ctx, admin, approved.Withdrawal.ID, "Too late")
		requireCode(t, "reject a paid withdrawal", err, jobsphere.Conflict, "Withdrawal is COMPLETED")
		f.wallet(t, v, 8000, 0)
		f.verify(t)
	})
}

// TestAccountUpdated: a connected account follows Stripe's reports, and
// an older report delivered late changes nothing.
func TestAccountUpdated(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		v := f.user(t, role.Contractor)
		onboarding, err := f.svc.CreateConnectAccount(f.ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		status := func() connectaccount.Status {
			t.Helper()
			a, err := f.client.ConnectAccount.Query().Where(connectaccount.UserID(v.UserID)).Only(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			return a.Status
		}
		if status() != connectaccount.StatusPENDING {
			t.Fatalf("new account: %s", status())
		}
		t0 := time.Now().Truncate(time.Second)
		steps := []struct {
			at       time.Time
			verified bool
			disabled string
			want     connectaccount.Status
		}{
			{t0, true, "", connectaccount.StatusVERIFIED},
			{t0.Add(-time.Minute), false, "", connectaccount.StatusVERIFIED}, // older: ignored
			{t0, false, "", connectaccount.StatusVERIFIED},                   // same second, earlier state: ignored
			{t0.Add(time.Minute), false, "", connectaccount.StatusPENDING},   // requirements came due
			{t0.Add(2 * time.Minute), false, "rejected.fraud", connectaccount.StatusREJECTED},
			{t0.Add(3 * time.Minute), true, "", connectaccount.StatusVERIFIED}, // the rejection was lifted
		}
		for i, s := range steps {
			f.mustDeliver(t, accountEvent(onboarding.AccountID, s.at, s.verified, s.disabled))
			if got := status(); got != s.want {
				t.Fatalf("step %d: %s, want %s", i, got, s.want)
			}
		}
		f.mustDeliver(t, accountEvent("acct_not_ours", t0, true, ""))
		cs, err := f.svc.ConnectAccountStatus(f.ctx, v)
		if err != nil || !cs.OnboardingComplete || !cs.PayoutsEnabled {
			t.Fatalf("status: %+v, %v", cs, err)
		}
		f.verify(t)
	})
}
