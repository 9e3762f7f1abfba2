package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/payments/sandbox"
	"github.com/jobsphere/jobsphere/server/servertest"
)

const reconciliationQuery = `query($since: Time!) { reconciliation(since: $since) {
  matched matchedAmount stripeFees paidOut stripeBalance expectedBalance balanceDifference clean
  unmatchedAtStripe { stripeId kind amount problem } unmatchedInLedger { stripeId kind amount problem } } }`

type reconciliationResult struct {
	Reconciliation struct {
		Matched                                                                               int
		MatchedAmount, StripeFees, PaidOut, StripeBalance, ExpectedBalance, BalanceDifference string
		Clean                                                                                 bool
		UnmatchedAtStripe, UnmatchedInLedger                                                  []struct{ StripeID, Kind, Amount, Problem string }
	}
}

// TestReconcileSandbox: the embedded default keeps what Stripe would, so
// after a deposit, a job Checkout refunded to the card and a contractor's
// deposit and withdrawal, the admins' reconciliation is clean: five
// movements matched, Stripe's card fees counted apart.
func TestReconcileSandbox(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		since := time.Now().Add(-time.Second)
		customer, admin := srv.Register(t, "CUSTOMER"), srv.Admin(t)
		contractor := verifiedContractor(t, srv, "verified")
		cc, kc, ac := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken), srv.Client(admin.AccessToken)
		deposit := func(c *servertest.Client, amount string) {
			t.Helper()
			d := startDeposit(t, c, map[string]any{"amount": amount})
			if resp, _ := payCheckout(t, *d.Deposit.CheckoutURL, "4242424242424242"); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("pay the deposit: %d", resp.StatusCode)
			}
		}

		deposit(cc, "100")
		var refunded struct{ RefundEscrow struct{ Status string } }
		ac.MustDo(t, `mutation($c: ID!) { refundEscrow(input: {contractId: $c, cancelReason: "dispute"}) { status } }`,
			map[string]any{"c": cardPaidContract(t, cc, contractor.ID)}, &refunded)
		if refunded.RefundEscrow.Status != "REFUNDED" {
			t.Fatalf("refund to the card: %+v", refunded)
		}
		deposit(kc, "80")
		var out withdrawResult
		kc.MustDo(t, withdrawMutation, map[string]any{"a": "50"}, &out)
		if out.Withdraw.Withdrawal.Status != "COMPLETED" {
			t.Fatalf("withdraw: %+v", out.Withdraw)
		}

		var r reconciliationResult
		ac.MustDo(t, reconciliationQuery, map[string]any{"since": since.Format(time.RFC3339Nano)}, &r)
		rec := r.Reconciliation
		// 100 + 105 in, 105 back to the card, 80 in, 50 out; the card fee of each payment.
		fees := sandbox.CardFee(10000) + sandbox.CardFee(10500) + sandbox.CardFee(8000)
		if !rec.Clean || rec.Matched != 5 || rec.MatchedAmount != "440.00" || rec.StripeFees != jobsphere.USD.Format(fees) ||
			rec.BalanceDifference != "0.00" || rec.StripeBalance != jobsphere.USD.Format(13000-fees) || rec.PaidOut != "0.00" {
			t.Fatalf("reconciliation: %+v", rec)
		}
		srv.Client(customer.AccessToken).Do(t, reconciliationQuery, map[string]any{"since": since.Format(time.RFC3339)}).RequireError(t, "FORBIDDEN")
		srv.RequireLedgerVerified(t)
	})
}
