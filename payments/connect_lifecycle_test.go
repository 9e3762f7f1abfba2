package payments

import (
	"testing"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/ent/connectaccount"
)

// TestConnectEventsHandled: a connected account's deauthorization and bank
// payouts are ours; the platform's own payouts, and a deauthorization that
// names no account, are not.
func TestConnectEventsHandled(t *testing.T) {
	var s Service
	for _, tc := range []struct {
		ev   Event
		want bool
	}{
		{Event{Type: AccountApplicationDeauthorized, Account: "acct_1"}, true},
		{Event{Type: PayoutFailed, Account: "acct_1"}, true},
		{Event{Type: PayoutPaid, Account: "acct_1"}, true},
		{Event{Type: AccountUpdated, Account: "acct_1"}, true},
		{Event{Type: AccountUpdated}, true},
		{Event{Type: TransferReversed}, true},
		{Event{Type: PayoutFailed}, false},
		{Event{Type: PayoutPaid}, false},
		{Event{Type: AccountApplicationDeauthorized}, false},
		{Event{Type: CheckoutSessionCompleted, Account: "acct_1"}, false},
	} {
		if got := s.Handles(tc.ev); got != tc.want {
			t.Errorf("Handles(%s, account %q) = %v", tc.ev.Type, tc.ev.Account, got)
		}
	}
}

// TestReconnectAfterDeauthorization: a DISCONNECTED account refuses
// withdrawals; reconnecting asks Stripe for a new account under a key of
// its own (a retry gets the same one), resets what the old account
// reported and starts at PENDING.
func TestReconnectAfterDeauthorization(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		k := f.contractor(t, 5000)
		acct := "acct_" + string(k.UserID)
		f.mustDeliver(t, Event{Type: PayoutFailed, Account: acct, Payout: &EventPayout{ID: "po_1", Amount: 5000,
			ArrivalDate: time.Now(), FailureCode: "account_closed", FailureMessage: "The bank account has been closed"}})
		f.mustDeliver(t, Event{Type: AccountApplicationDeauthorized, Account: acct})
		f.mustDeliver(t, Event{Type: AccountApplicationDeauthorized, Account: acct}) // another delivery id: nothing more
		a := f.client.ConnectAccount.Query().Where(connectaccount.UserID(k.UserID)).OnlyX(f.ctx)
		if a.Status != connectaccount.StatusDISCONNECTED || a.PayoutsEnabled || a.PayoutFailure == nil {
			t.Fatalf("deauthorized: %+v", a)
		}
		_, err := f.svc.Withdraw(f.ctx, k, WithdrawInput{Amount: minWithdrawal})
		requireCode(t, "withdraw", err, jobsphere.Conflict, "Please reconnect your Stripe account")
		f.wallet(t, k, 5000, 0)

		link, err := f.svc.RefreshConnectOnboardingLink(f.ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if keys := f.gw.asked("connect"); len(keys) != 2 || keys[1] != "connect:"+string(k.UserID)+":after:"+acct {
			t.Fatalf("Stripe asked with keys %v", keys)
		}
		a = f.client.ConnectAccount.GetX(f.ctx, a.ID)
		if a.Status != connectaccount.StatusPENDING || a.StripeAccountID != link.AccountID || a.PayoutFailure != nil ||
			a.StateAsOf != nil || a.DetailsSubmitted || a.FailedPayoutID != nil {
			t.Fatalf("reconnected: %+v", a)
		}
		_, err = f.svc.CreateConnectAccount(f.ctx, k)
		requireCode(t, "create after reconnect", err, jobsphere.Conflict, "Stripe Connect account already exists")
		f.verify(t)
	})
}
