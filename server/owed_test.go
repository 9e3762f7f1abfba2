package server_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/jobsphere/jobsphere/ent/ledgeraccount"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/posting"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/stripeevent"
	"github.com/jobsphere/jobsphere/server/servertest"
)

const owedWalletQuery = `{ wallet { balance escrowBalance amountOwed isFrozen frozenReason } }`

type owedWallet struct {
	Wallet struct {
		Balance, EscrowBalance, AmountOwed string
		IsFrozen                           bool
		FrozenReason                       *string
	}
}

// signedDelivery delivers payloads to srv's webhook route, signed with the
// test secret; an answer but 200 fails the test.
func signedDelivery(t *testing.T, srv *servertest.Server) func(payload []byte) {
	return func(payload []byte) {
		t.Helper()
		if code := srv.PostWebhook(t, "/webhooks/stripe", payload, servertest.Sign(payload, servertest.WebhookSecret, time.Time{})); code != http.StatusOK {
			t.Fatalf("webhook: HTTP %d", code)
		}
	}
}

// owedWalletIs checks c's wallet at a step — available, escrow, amount owed
// and the freeze reason ("": not frozen) — and then the ledger.
func owedWalletIs(t *testing.T, srv *servertest.Server, c *servertest.Client) func(step, balance, escrow, owed, reason string) {
	return func(step, balance, escrow, owed, reason string) {
		t.Helper()
		var w owedWallet
		c.MustDo(t, owedWalletQuery, nil, &w)
		got := w.Wallet
		if got.Balance != balance || got.EscrowBalance != escrow || got.AmountOwed != owed ||
			got.IsFrozen != (reason != "") || stripeStr(got.FrozenReason) != reason {
			t.Fatalf("%s: wallet %+v (reason %q); want balance %s, escrow %s, owed %s, reason %q",
				step, got, stripeStr(got.FrozenReason), balance, escrow, owed, reason)
		}
		srv.RequireLedgerVerified(t)
	}
}

// holdSeventy has the customer (cc) send the contractor (kc) an offer on a
// new job that holds $70.00 of their wallet ($66.67 and its $3.33 fee).
func holdSeventy(t *testing.T, cc, kc *servertest.Client) {
	t.Helper()
	jobID := postJob(t, cc)
	var applied struct{ ApplyToJob struct{ ID string } }
	kc.MustDo(t, `mutation($in: ApplyToJobInput!) { applyToJob(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"jobId": jobID}}, &applied)
	cc.MustDo(t, `mutation($in: SendOfferInput!) { sendOffer(input: $in) { offer { id } } }`,
		map[string]any{"in": map[string]any{"applicationId": applied.ApplyToJob.ID, "amount": "66.67", "timeline": "7 days", "description": "Build the whole website"}}, nil)
}

// chargeRefunded is Stripe's charge.refunded for a charge of payment
// intent pi with refunded of amount refunded so far.
func chargeRefunded(t *testing.T, eventID, chargeID, pi string, amount, refunded int64) []byte {
	return servertest.StripeEvent(t, eventID, stripe.EventTypeChargeRefunded, map[string]any{
		"id": chargeID, "object": "charge", "amount": amount, "amount_captured": amount, "amount_refunded": refunded,
		"currency": "usd", "paid": true, "captured": true, "refunded": refunded == amount, "status": "succeeded",
		"payment_intent": pi,
	})
}

// splitOf is a transaction's postings on the user's accounts, by kind.
func splitOf(t *testing.T, srv *servertest.Server, txnID pulid.ID) map[ledgeraccount.Kind]int64 {
	t.Helper()
	ps, err := srv.App.Client.Posting.Query().Where(posting.TransactionID(txnID)).WithAccount().All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[ledgeraccount.Kind]int64{}
	for _, p := range ps {
		if p.Edges.Account.UserID != nil {
			out[p.Edges.Account.Kind] += p.Amount
		}
	}
	return out
}

// TestOutsideRefundIsOwedAndPaidBackFirst: a $100 card deposit, $70 of it
// held by an offer, then a refund of the $100 made in Stripe's Dashboard
// (charge.refunded, delivered twice and out of order with a later
// deposit): available $0, owed $70, the wallet frozen for CHARGEBACK,
// which an admin cannot lift; a new $100 deposit pays the $70 back first:
// owed $0, available $30, unfrozen. A refund the server made itself (an
// escrow refunded to the card) changes nothing. The ledger verifies after
// each step.
func TestOutsideRefundIsOwedAndPaidBackFirst(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		servertest.StripeEnv(env, servertest.StripeMock(t))
		srv := servertest.Start(t, env)
		ctx := context.Background()
		customer, contractor, admin := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR"), srv.Admin(t)
		cc, kc, ac := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken), srv.Client(admin.AccessToken)
		deliver, want := signedDelivery(t, srv), owedWalletIs(t, srv, cc)

		// A $100 card deposit; $70.00 of it held by an offer ($66.67 + $3.33 fee).
		first := startedDeposit(t, srv, customer.ID, 10000)
		deliver(intentSucceeded(t, first, "evt_dep_1"))
		holdSeventy(t, cc, kc)
		want("deposit and offer", "30.00", "70.00", "0.00", "")

		// The whole $100 refunded in Stripe's Dashboard.
		refund := chargeRefunded(t, "evt_refund_1", "ch_dep_1", "pi_for_"+string(first.ID), 10000, 10000)
		deliver(refund)
		want("outside refund", "0.00", "70.00", "70.00", "CHARGEBACK")
		refundTxn := srv.App.Client.LedgerTransaction.Query().
			Where(ledgertransaction.TypeEQ(ledgertransaction.TypeREFUND), ledgertransaction.StripePaymentIntentID("pi_for_"+string(first.ID))).OnlyX(ctx)
		if got := splitOf(t, srv, refundTxn.ID); got[ledgeraccount.KindAVAILABLE] != -3000 || got[ledgeraccount.KindRECEIVABLE] != -7000 {
			t.Fatalf("outside refund's postings on the customer: %v; want available -30.00, receivable -70.00", got)
		}
		var stats struct {
			PlatformStats struct{ Receivables, Losses string }
		}
		ac.MustDo(t, `{ platformStats { receivables losses } }`, nil, &stats)
		if stats.PlatformStats.Receivables != "70.00" || stats.PlatformStats.Losses != "0.00" {
			t.Fatalf("platformStats: %+v", stats.PlatformStats)
		}
		// A CHARGEBACK freeze is not an admin's to lift.
		e := ac.Do(t, `mutation($u: ID!) { unfreezeWallet(userId: $u) { isFrozen } }`, map[string]any{"u": customer.ID}).RequireError(t, "CONFLICT")
		if e.Message != "Wallet is frozen for CHARGEBACK: it is lifted when nothing is owed ($70.00 is owed)" {
			t.Fatalf("unfreezeWallet of a CHARGEBACK freeze: %q", e.Message)
		}

		// A later deposit, then the refund again (the same event, and
		// Stripe's redelivery under another id), and an older partial
		// refund's event arriving last: the $70 is paid back once.
		second := startedDeposit(t, srv, customer.ID, 10000)
		deliver(intentSucceeded(t, second, "evt_dep_2"))
		want("deposit paying back", "30.00", "70.00", "0.00", "")
		deliver(refund)
		deliver(chargeRefunded(t, "evt_refund_1_again", "ch_dep_1", "pi_for_"+string(first.ID), 10000, 10000))
		deliver(chargeRefunded(t, "evt_refund_0", "ch_dep_1", "pi_for_"+string(first.ID), 10000, 4000))
		want("refund redelivered", "30.00", "70.00", "0.00", "")
		depositTxn := srv.App.Client.Deposit.GetX(ctx, second.ID).TransactionID
		if got := splitOf(t, srv, *depositTxn); got[ledgeraccount.KindRECEIVABLE] != 7000 || got[ledgeraccount.KindAVAILABLE] != 3000 {
			t.Fatalf("second deposit's postings: %v; want receivable +70.00, available +30.00", got)
		}

		// The server's own refund: a job paid by Checkout, refunded to the card.
		payJobByCheckout(t, srv, cc, deliver, customer.ID, contractor.ID, "pi_job_own")
		contractID := srv.App.Client.Escrow.Query().OnlyX(ctx).ContractID
		ac.MustDo(t, `mutation($c: ID!) { refundEscrow(input: {contractId: $c, cancelReason: "dispute"}) { status } }`,
			map[string]any{"c": contractID}, nil)
		before := srv.App.Client.LedgerTransaction.Query().CountX(ctx)
		deliver(chargeRefunded(t, "evt_refund_own", "ch_job_own", "pi_job_own", 10500, 10500))
		if after := srv.App.Client.LedgerTransaction.Query().CountX(ctx); after != before {
			t.Fatalf("the server's own refund posted %d transaction(s)", after-before)
		}
		want("own refund", "30.00", "70.00", "0.00", "")
	})
}

// payJobByCheckout funds a new job of customer for contractor by a paid
// job Checkout of $105.00 with payment intent pi.
func payJobByCheckout(t *testing.T, srv *servertest.Server, cc *servertest.Client, deliver func([]byte), customerID, contractorID, pi string) {
	t.Helper()
	jobID := postJob(t, cc)
	cc.MustDo(t, payForJob, map[string]any{"in": map[string]any{"jobId": jobID, "freelancerId": contractorID, "title": "Website", "rate": "100"}}, nil)
	deliver(servertest.StripeEvent(t, "evt_cs_"+pi, stripe.EventTypeCheckoutSessionCompleted, map[string]any{
		"id": "cs_" + pi, "object": "checkout.session", "payment_status": "paid", "status": "complete",
		"amount_total": 10500, "currency": "usd", "payment_intent": pi,
		"metadata": map[string]string{"kind": "job_payment", "job_id": jobID, "client_id": customerID,
			"freelancer_id": contractorID, "amount": "10000"},
	}))
	if n := srv.App.Client.Escrow.Query().CountX(context.Background()); n != 1 {
		t.Fatalf("escrows after the job Checkout: %d", n)
	}
}

// TestSandboxDashboardRefund: in the sandbox a developer refunds a
// deposit's payment "in Stripe's Dashboard" from the payment's page; the
// signed charge.refunded takes the money back, what the wallet cannot
// cover is owed. The sandbox's refund of an escrow to the card sends its
// charge.refunded too, which the server recognises as its own.
func TestSandboxDashboardRefund(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		customer, contractor, admin := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR"), srv.Admin(t)
		cc := srv.Client(customer.AccessToken)
		d := startDeposit(t, cc, map[string]any{"amount": "100.00", "paymentMethodId": "pm_card_visa"})
		pi := stripeStr(d.Deposit.PaymentIntentID)
		resp, page := srv.Get(t, "/sandbox/payments/"+pi)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Refund in the Dashboard") || !strings.Contains(page, `value="100.00"`) {
			t.Fatalf("payment page: %d %.400s", resp.StatusCode, page)
		}

		// An offer holds $70.00 of it.
		holdSeventy(t, cc, srv.Client(contractor.AccessToken))

		resp, err := http.PostForm(srv.URL+"/sandbox/payments/"+pi+"/refund", url.Values{"amount": {"100.00"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "$100.00 of it refunded") {
			t.Fatalf("refund in the Dashboard: %d %.400s", resp.StatusCode, body)
		}
		var w owedWallet
		cc.MustDo(t, owedWalletQuery, nil, &w)
		if w.Wallet.Balance != "0.00" || w.Wallet.AmountOwed != "70.00" || stripeStr(w.Wallet.FrozenReason) != "CHARGEBACK" {
			t.Fatalf("after the Dashboard refund: %+v", w.Wallet)
		}
		srv.RequireLedgerVerified(t)
		// Nothing is left to refund.
		if resp, _ := http.PostForm(srv.URL+"/sandbox/payments/"+pi+"/refund", url.Values{}); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("refund of a refunded payment: %d", resp.StatusCode)
		}

		// The server's own refund to the card, through the sandbox.
		other := srv.Register(t, "CUSTOMER")
		oc := srv.Client(other.AccessToken)
		otherJob := postJob(t, oc)
		var session struct{ PayForJob struct{ CheckoutURL string } }
		oc.MustDo(t, payForJob, map[string]any{"in": map[string]any{"jobId": otherJob, "freelancerId": contractor.ID, "title": "Website", "rate": "100"}}, &session)
		if resp, _ := payCheckout(t, session.PayForJob.CheckoutURL, "4242424242424242"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("pay: %d", resp.StatusCode)
		}
		var got jobMoneyResult
		oc.MustDo(t, jobMoney, map[string]any{"id": otherJob}, &got)
		srv.Client(admin.AccessToken).MustDo(t, `mutation($c: ID!) { refundEscrow(input: {contractId: $c, cancelReason: "dispute"}) { status } }`,
			map[string]any{"c": got.Job.Contract.ID}, nil)
		var ow owedWallet
		oc.MustDo(t, owedWalletQuery, nil, &ow)
		if ow.Wallet.Balance != "0.00" || ow.Wallet.EscrowBalance != "0.00" || ow.Wallet.AmountOwed != "0.00" || ow.Wallet.IsFrozen {
			t.Fatalf("after the server's own card refund: %+v", ow.Wallet)
		}
		ctx := context.Background()
		if n := srv.App.Client.StripeEvent.Query().Where(stripeevent.Type("charge.refunded")).CountX(ctx); n != 2 {
			t.Fatalf("%d charge.refunded events recorded, want the Dashboard's and the server's own", n)
		}
		if n := srv.App.Client.LedgerTransaction.Query().Where(ledgertransaction.IdempotencyKeyContains("refunded-outside")).CountX(ctx); n != 1 {
			t.Fatalf("%d outside refunds booked, want the Dashboard's one", n)
		}
		srv.RequireLedgerVerified(t)
	})
}
