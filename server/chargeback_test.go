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
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/stripeevent"
	"github.com/jobsphere/jobsphere/server/servertest"
)

// disputePayload is Stripe's dispute object (API 2023-10-16) of payment
// intent pi for amount, in Stripe status st. Its balance transactions are
// the funds withdrawn with fee when withdrawn, and the funds reinstated
// with the fee returned when reinstated.
func disputePayload(t *testing.T, eventID string, typ stripe.EventType, id, pi, st string, amount, fee int64, withdrawn, reinstated bool) []byte {
	var moved []any
	bt := func(id string, amount, fee int64, category string) map[string]any {
		return map[string]any{"id": id, "object": "balance_transaction", "amount": amount, "fee": fee, "net": amount - fee,
			"currency": "usd", "type": "adjustment", "reporting_category": category, "status": "available",
			"fee_details": []any{map[string]any{"amount": fee, "currency": "usd", "description": "Dispute fee", "type": "stripe_fee"}}}
	}
	if withdrawn {
		moved = append(moved, bt("txn_"+id+"_w", -amount, fee, "dispute"))
	}
	if reinstated {
		moved = append(moved, bt("txn_"+id+"_r", amount, -fee, "dispute_reversal"))
	}
	return servertest.StripeEvent(t, eventID, typ, map[string]any{
		"id": id, "object": "dispute", "amount": amount, "currency": "usd", "charge": "ch_" + pi, "payment_intent": pi,
		"reason": "fraudulent", "status": st, "balance_transactions": moved, "is_charge_refundable": false,
		"livemode": false, "created": time.Now().Unix(), "metadata": map[string]string{},
	})
}

type chargebackList struct {
	Chargebacks struct {
		TotalCount int
		Edges      []struct {
			Node struct {
				ID, Amount, Fee, Reason, Status, StripeDisputeID string
				ClosedAt                                         *string
				Customer                                         struct{ ID string }
				Deposit                                          *struct{ ID string }
				Contract                                         *struct{ ID string }
			}
		}
	}
}

const chargebacksQuery = `query($s: ChargebackStatus) { chargebacks(status: $s, first: 10) { totalCount edges { node {
	id amount fee reason status stripeDisputeId closedAt customer { id } deposit { id } contract { id } } } } }`

// TestChargebackTakesBackOwesAndReverses is the acceptance line: a $100
// card deposit, $70 of it held by an offer, then Stripe's funds_withdrawn
// for $100 with a $15 fee, delivered twice and out of order with created
// and closed, as real signed payloads through the webhook route:
// available $0, owed $70, losses $15, the wallet frozen for CHARGEBACK; a
// new $100 deposit pays the $70 back (owed $0, available $30) but the
// wallet stays frozen while the case is open; closed, it is unfrozen;
// funds_reinstated reverses the chargeback exactly once. The escrow is
// never touched. The ledger verifies after each step.
func TestChargebackTakesBackOwesAndReverses(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		servertest.StripeEnv(env, servertest.StripeMock(t))
		srv := servertest.Start(t, env)
		ctx := context.Background()
		customer, contractor, admin := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR"), srv.Admin(t)
		cc, kc, ac := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken), srv.Client(admin.AccessToken)
		deliver, want := signedDelivery(t, srv), owedWalletIs(t, srv, cc)
		stats := func(step, receivables, losses string, open int) {
			t.Helper()
			var s struct {
				PlatformStats struct {
					Receivables, Losses string
					OpenChargebacks     int
				}
			}
			ac.MustDo(t, `{ platformStats { receivables losses openChargebacks } }`, nil, &s)
			if got := s.PlatformStats; got.Receivables != receivables || got.Losses != losses || got.OpenChargebacks != open {
				t.Fatalf("%s: platformStats %+v; want receivables %s, losses %s, %d open", step, got, receivables, losses, open)
			}
		}
		chargeback := "CHARGEBACK"

		// A $100 card deposit; $70.00 of it held by an offer ($66.67 + $3.33 fee).
		first := startedDeposit(t, srv, customer.ID, 10000)
		deliver(intentSucceeded(t, first, "evt_dep_1"))
		holdSeventy(t, cc, kc)
		want("deposit and offer", "30.00", "70.00", "0.00", "")

		pi := "pi_for_" + string(first.ID)
		withdrawn := disputePayload(t, "evt_dp_withdrawn", stripe.EventTypeChargeDisputeFundsWithdrawn, "dp_1", pi, "needs_response", 10000, 1500, true, false)
		created := disputePayload(t, "evt_dp_created", stripe.EventTypeChargeDisputeCreated, "dp_1", pi, "needs_response", 10000, 1500, true, false)
		closed := disputePayload(t, "evt_dp_closed", stripe.EventTypeChargeDisputeClosed, "dp_1", pi, "won", 10000, 1500, true, true)
		reinstated := disputePayload(t, "evt_dp_reinstated", stripe.EventTypeChargeDisputeFundsReinstated, "dp_1", pi, "won", 10000, 1500, true, true)

		// funds_withdrawn before created (it makes the case), then created,
		// then funds_withdrawn again: Stripe's redelivery of the same event
		// and the same news under another event id.
		deliver(withdrawn)
		deliver(created)
		deliver(withdrawn)
		deliver(disputePayload(t, "evt_dp_withdrawn_again", stripe.EventTypeChargeDisputeFundsWithdrawn, "dp_1", pi, "under_review", 10000, 1500, true, false))
		want("funds withdrawn", "0.00", "70.00", "70.00", chargeback)
		stats("funds withdrawn", "70.00", "15.00", 1)
		cbTxn := srv.App.Client.LedgerTransaction.Query().Where(ledgertransaction.IdempotencyKey("dispute:dp_1:funds-withdrawn")).OnlyX(ctx)
		if got := splitOf(t, srv, cbTxn.ID); got[ledgeraccount.KindAVAILABLE] != -3000 || got[ledgeraccount.KindRECEIVABLE] != -7000 || got[ledgeraccount.KindESCROW] != 0 {
			t.Fatalf("chargeback's postings on the customer: %v; want available -30.00, receivable -70.00, escrow untouched", got)
		}
		var open chargebackList
		ac.MustDo(t, chargebacksQuery, map[string]any{"s": "OPEN"}, &open)
		if open.Chargebacks.TotalCount != 1 {
			t.Fatalf("open chargebacks: %+v", open.Chargebacks)
		}
		if n := open.Chargebacks.Edges[0].Node; n.Amount != "100.00" || n.Fee != "15.00" || n.Reason != "fraudulent" || n.StripeDisputeID != "dp_1" ||
			n.Customer.ID != customer.ID || n.Deposit == nil || n.Deposit.ID != string(first.ID) || n.Contract != nil || n.ClosedAt != nil {
			t.Fatalf("open chargeback: %+v", n)
		}
		var history struct {
			Transactions struct {
				Edges []struct {
					Node struct{ Type, Amount, Status string }
				}
			}
		}
		cc.MustDo(t, `{ transactions(first: 10, type: CHARGEBACK) { edges { node { type amount status } } } }`, nil, &history)
		if len(history.Transactions.Edges) != 1 || history.Transactions.Edges[0].Node.Amount != "100.00" {
			t.Fatalf("the customer's chargebacks: %+v", history.Transactions.Edges)
		}
		e := ac.Do(t, `mutation($u: ID!) { unfreezeWallet(userId: $u) { isFrozen } }`, map[string]any{"u": customer.ID}).RequireError(t, "CONFLICT")
		if e.Message != "Wallet is frozen for CHARGEBACK: it is lifted when the chargeback is closed and nothing is owed ($70.00 is owed)" {
			t.Fatalf("unfreezeWallet during a chargeback: %q", e.Message)
		}

		// A new $100 deposit pays the $70 back first; the case is open still.
		second := startedDeposit(t, srv, customer.ID, 10000)
		deliver(intentSucceeded(t, second, "evt_dep_2"))
		want("deposit paying back", "30.00", "70.00", "0.00", chargeback)
		if got := splitOf(t, srv, *srv.App.Client.Deposit.GetX(ctx, second.ID).TransactionID); got[ledgeraccount.KindRECEIVABLE] != 7000 || got[ledgeraccount.KindAVAILABLE] != 3000 {
			t.Fatalf("second deposit's postings: %v; want receivable +70.00, available +30.00", got)
		}
		stats("paid back", "0.00", "15.00", 1)

		// Closed (won, twice): nothing owed, the wallet is unfrozen.
		deliver(closed)
		deliver(closed)
		want("closed", "30.00", "70.00", "0.00", "")
		stats("closed", "0.00", "15.00", 0)
		var won chargebackList
		ac.MustDo(t, chargebacksQuery, map[string]any{"s": "WON"}, &won)
		if won.Chargebacks.TotalCount != 1 || won.Chargebacks.Edges[0].Node.ClosedAt == nil {
			t.Fatalf("won chargebacks: %+v", won.Chargebacks)
		}

		// funds_reinstated, three times (twice one event, once another):
		// the $100 and the fee come back once; nothing of it is owed any
		// more, so all of it is available.
		deliver(reinstated)
		deliver(reinstated)
		deliver(disputePayload(t, "evt_dp_reinstated_again", stripe.EventTypeChargeDisputeFundsReinstated, "dp_1", pi, "won", 10000, 1500, true, true))
		want("reinstated", "130.00", "70.00", "0.00", "")
		stats("reinstated", "0.00", "0.00", 0)
		// The customer's reversal and the fee's return, once each.
		if keys := srv.App.Client.LedgerTransaction.Query().Where(ledgertransaction.TypeEQ(ledgertransaction.TypeCHARGEBACK_REVERSAL)).
			Order(ledgertransaction.ByIdempotencyKey()).Select(ledgertransaction.FieldIdempotencyKey).StringsX(ctx); len(keys) != 2 ||
			keys[0] != "dispute:dp_1:fee-returned" || keys[1] != "dispute:dp_1:funds-reinstated" {
			t.Fatalf("chargeback reversals %v", keys)
		}
		if st := srv.App.Client.LedgerTransaction.GetX(ctx, cbTxn.ID).Status; st != ledgertransaction.StatusREVERSED {
			t.Fatalf("the chargeback is %s after its reversal", st)
		}
		ac.MustDo(t, chargebacksQuery, map[string]any{"s": "WON"}, &won)
		if won.Chargebacks.Edges[0].Node.Fee != "0.00" {
			t.Fatalf("fee after Stripe returned it: %s", won.Chargebacks.Edges[0].Node.Fee)
		}
	})
}

// TestEarlyFraudWarningAndRefundDeposit: radar.early_fraud_warning.created
// (twice) freezes the customer's wallet for FRAUD_WARNING — not an
// admin's to lift, and no new deposits — and lists the warning for
// admins; refundDeposit (admins) refunds what is left of the deposit in
// the wallet to the card through the Stripe adapter (stripe-mock), which
// resolves the warning and lifts the freeze; Stripe's charge.refunded of
// that refund is the server's own and books nothing. The offer's hold is
// never touched. The ledger verifies after each step.
func TestEarlyFraudWarningAndRefundDeposit(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		servertest.StripeEnv(env, servertest.StripeMock(t))
		srv := servertest.Start(t, env)
		ctx := context.Background()
		customer, contractor, admin := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR"), srv.Admin(t)
		cc, kc, ac := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken), srv.Client(admin.AccessToken)
		deliver, want := signedDelivery(t, srv), owedWalletIs(t, srv, cc)
		type warnings struct {
			FraudWarnings struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						FraudType, StripeWarningID, StripePaymentIntentID string
						ResolvedAt                                        *string
						Customer                                          struct{ ID string }
						Deposit                                           *struct{ ID string }
					}
				}
			}
		}
		const warningsQuery = `{ fraudWarnings(first: 10) { totalCount edges { node { fraudType stripeWarningId stripePaymentIntentId resolvedAt customer { id } deposit { id } } } } }`

		first := startedDeposit(t, srv, customer.ID, 10000)
		deliver(intentSucceeded(t, first, "evt_dep_1"))
		pi := "pi_for_" + string(first.ID)
		holdSeventy(t, cc, kc)

		warning := servertest.StripeEvent(t, "evt_efw_1", stripe.EventTypeRadarEarlyFraudWarningCreated, map[string]any{
			"id": "issfr_1", "object": "radar.early_fraud_warning", "actionable": true, "charge": "ch_dep_1",
			"payment_intent": pi, "fraud_type": "made_with_stolen_card", "created": time.Now().Unix(), "livemode": false,
		})
		deliver(warning)
		deliver(warning)
		want("fraud warning", "30.00", "70.00", "0.00", "FRAUD_WARNING")
		var listed warnings
		ac.MustDo(t, warningsQuery, nil, &listed)
		if listed.FraudWarnings.TotalCount != 1 {
			t.Fatalf("fraud warnings: %+v", listed.FraudWarnings)
		}
		if n := listed.FraudWarnings.Edges[0].Node; n.FraudType != "made_with_stolen_card" || n.StripeWarningID != "issfr_1" || n.StripePaymentIntentID != pi ||
			n.ResolvedAt != nil || n.Customer.ID != customer.ID || n.Deposit == nil || n.Deposit.ID != string(first.ID) {
			t.Fatalf("fraud warning: %+v", n)
		}
		e := ac.Do(t, `mutation($u: ID!) { unfreezeWallet(userId: $u) { isFrozen } }`, map[string]any{"u": customer.ID}).RequireError(t, "CONFLICT")
		if e.Message != "Wallet is frozen for FRAUD_WARNING: it is lifted when the warned payment is refunded (refundDeposit) or disputed" {
			t.Fatalf("unfreezeWallet of a fraud warning: %q", e.Message)
		}
		cc.Do(t, `mutation { deposit(input: {amount: "20"}) { deposit { id } } }`, nil).RequireError(t, "WALLET_FROZEN")

		const refund = `mutation($d: ID!) { refundDeposit(depositId: $d) { id status refundedAmount } }`
		cc.Do(t, refund, map[string]any{"d": first.ID}).RequireError(t, "FORBIDDEN")
		var refunded struct {
			RefundDeposit struct{ ID, Status, RefundedAmount string }
		}
		ac.MustDo(t, refund, map[string]any{"d": first.ID}, &refunded)
		if r := refunded.RefundDeposit; r.Status != "REFUNDED" || r.RefundedAmount != "30.00" {
			t.Fatalf("refundDeposit: %+v", r)
		}
		want("refunded", "0.00", "70.00", "0.00", "")
		ac.MustDo(t, warningsQuery, nil, &listed)
		if listed.FraudWarnings.Edges[0].Node.ResolvedAt == nil {
			t.Fatal("the warning is unresolved after its deposit's refund")
		}

		// Stripe's charge.refunded for the server's own refund: nothing new.
		before := srv.App.Client.LedgerTransaction.Query().CountX(ctx)
		deliver(chargeRefunded(t, "evt_refund_own", "ch_dep_1", pi, 10000, 3000))
		if after := srv.App.Client.LedgerTransaction.Query().CountX(ctx); after != before {
			t.Fatalf("the server's own refund posted %d transaction(s)", after-before)
		}
		want("own refund reported", "0.00", "70.00", "0.00", "")
		e = ac.Do(t, refund, map[string]any{"d": first.ID}).RequireError(t, "CONFLICT")
		if e.Message != "Nothing of this deposit is left in the wallet to refund: its money was spent" {
			t.Fatalf("refund of a spent deposit: %q", e.Message)
		}
	})
}

// TestSandboxChargebackEndToEnd walks the sandbox as a developer would,
// over HTTP: a job Checkout paid with 4000 0000 0000 0259 succeeds and is
// disputed at once (the sandbox's signed charge.dispute.created and
// funds_withdrawn with a $15.00 fee): the escrow stays, the customer owes
// the $105.00, the wallet is frozen; the payment's page closes the case as
// won (funds reinstated, then closed): nothing owed, no loss, unfrozen. A
// deposit paid with 0259 is taken back from the wallet, and the case
// closed as lost keeps the fee lost. A deposit paid with 4000 0000 0000
// 5423 raises an early fraud warning; refundDeposit refunds it through the
// sandbox, which the server recognises as its own refund.
func TestSandboxChargebackEndToEnd(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		ctx := context.Background()
		customer, contractor, admin := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR"), srv.Admin(t)
		cc, ac := srv.Client(customer.AccessToken), srv.Client(admin.AccessToken)
		want := owedWalletIs(t, srv, cc)
		losses := func(step, want string) {
			t.Helper()
			var s struct{ PlatformStats struct{ Losses string } }
			ac.MustDo(t, `{ platformStats { losses } }`, nil, &s)
			if s.PlatformStats.Losses != want {
				t.Fatalf("%s: losses %s, want %s", step, s.PlatformStats.Losses, want)
			}
		}
		closeCase := func(pi, outcome string) {
			t.Helper()
			resp, err := http.PostForm(srv.URL+"/sandbox/payments/"+pi+"/dispute/close", url.Values{"outcome": {outcome}})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "The case is closed: "+outcome) {
				t.Fatalf("close the case as %s: %d %.400s", outcome, resp.StatusCode, body)
			}
		}

		// A job Checkout, paid with the disputed card listed on the page.
		jobID := postJob(t, cc)
		var session struct{ PayForJob struct{ CheckoutURL string } }
		cc.MustDo(t, payForJob, map[string]any{"in": map[string]any{"jobId": jobID, "freelancerId": contractor.ID, "title": "Website", "rate": "100"}}, &session)
		_, page := srv.Get(t, strings.TrimPrefix(session.PayForJob.CheckoutURL, srv.URL))
		for _, card := range []string{"4000 0000 0000 0259", "4000 0000 0000 5423"} {
			if !strings.Contains(page, card) {
				t.Fatalf("the checkout page does not list %s: %.2000s", card, page)
			}
		}
		if resp, _ := payCheckout(t, session.PayForJob.CheckoutURL, "4000000000000259"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("pay with 0259: %d", resp.StatusCode)
		}
		want("job Checkout disputed", "0.00", "100.00", "105.00", "CHARGEBACK")
		losses("job Checkout disputed", "15.00")
		var open chargebackList
		ac.MustDo(t, chargebacksQuery, map[string]any{"s": "OPEN"}, &open)
		var got jobMoneyResult
		cc.MustDo(t, jobMoney, map[string]any{"id": jobID}, &got)
		if open.Chargebacks.TotalCount != 1 || open.Chargebacks.Edges[0].Node.Contract == nil || open.Chargebacks.Edges[0].Node.Contract.ID != got.Job.Contract.ID ||
			open.Chargebacks.Edges[0].Node.Amount != "105.00" || open.Chargebacks.Edges[0].Node.Fee != "15.00" || got.Job.Contract.Escrow.Status != "FUNDED" {
			t.Fatalf("open chargebacks %+v, job %+v", open.Chargebacks, got.Job)
		}
		pi := *srv.App.Client.Escrow.Query().OnlyX(ctx).StripePaymentIntentID
		if resp, page := srv.Get(t, "/sandbox/payments/"+pi); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Close the case as won") {
			t.Fatalf("payment page of a disputed payment: %d %.600s", resp.StatusCode, page)
		}
		closeCase(pi, "won")
		want("won", "0.00", "100.00", "0.00", "")
		losses("won", "0.00")

		// A deposit paid with 0259: taken back from the wallet; lost.
		d := startDeposit(t, cc, map[string]any{"amount": "50.00"})
		if resp, _ := payCheckout(t, *d.Deposit.CheckoutURL, "4000000000000259"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("pay with 0259: %d", resp.StatusCode)
		}
		want("deposit disputed", "0.00", "100.00", "0.00", "CHARGEBACK")
		closeCase(*srv.App.Client.Deposit.GetX(ctx, pulid.ID(d.Deposit.Deposit.ID)).StripePaymentIntentID, "lost")
		want("lost", "0.00", "100.00", "0.00", "")
		losses("lost", "15.00")

		// A deposit paid with 5423: an early fraud warning; refunded to the card.
		other := srv.Register(t, "CUSTOMER")
		oc := srv.Client(other.AccessToken)
		d = startDeposit(t, oc, map[string]any{"amount": "40.00"})
		if resp, _ := payCheckout(t, *d.Deposit.CheckoutURL, "4000000000005423"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("pay with 5423: %d", resp.StatusCode)
		}
		wantOther := owedWalletIs(t, srv, oc)
		wantOther("fraud warning", "40.00", "0.00", "0.00", "FRAUD_WARNING")
		var refunded struct {
			RefundDeposit struct{ Status, RefundedAmount string }
		}
		ac.MustDo(t, `mutation($d: ID!) { refundDeposit(depositId: $d) { status refundedAmount } }`, map[string]any{"d": d.Deposit.Deposit.ID}, &refunded)
		if refunded.RefundDeposit.Status != "REFUNDED" || refunded.RefundDeposit.RefundedAmount != "40.00" {
			t.Fatalf("refundDeposit: %+v", refunded.RefundDeposit)
		}
		wantOther("refunded", "0.00", "0.00", "0.00", "")
		if n := srv.App.Client.LedgerTransaction.Query().Where(ledgertransaction.IdempotencyKeyContains("refunded-outside")).CountX(ctx); n != 0 {
			t.Fatalf("%d outside refunds booked: the sandbox's refund is the server's own", n)
		}
		if n := srv.App.Client.StripeEvent.Query().Where(stripeevent.TypeIn("charge.refunded", "radar.early_fraud_warning.updated")).CountX(ctx); n != 2 {
			t.Fatalf("%d refund and warning-updated events, want the sandbox's two", n)
		}
	})
}
