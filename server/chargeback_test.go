package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/jobsphere/jobsphere/ent/ledgeraccount"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
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
		deliver := func(payload []byte) {
			t.Helper()
			if code := srv.PostWebhook(t, "/webhooks/stripe", payload, servertest.Sign(payload, servertest.WebhookSecret, time.Time{})); code != http.StatusOK {
				t.Fatalf("webhook: HTTP %d", code)
			}
		}
		want := func(step, balance, escrow, owed string, reason *string) {
			t.Helper()
			var w owedWallet
			cc.MustDo(t, owedWalletQuery, nil, &w)
			got := w.Wallet
			if got.Balance != balance || got.EscrowBalance != escrow || got.AmountOwed != owed ||
				got.IsFrozen != (reason != nil) || stripeStr(got.FrozenReason) != stripeStr(reason) {
				t.Fatalf("%s: wallet %+v (reason %q); want balance %s, escrow %s, owed %s, reason %q",
					step, got, stripeStr(got.FrozenReason), balance, escrow, owed, stripeStr(reason))
			}
			srv.RequireLedgerVerified(t)
		}
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
		jobID := postJob(t, cc)
		var applied struct{ ApplyToJob struct{ ID string } }
		kc.MustDo(t, `mutation($in: ApplyToJobInput!) { applyToJob(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"jobId": jobID}}, &applied)
		cc.MustDo(t, `mutation($in: SendOfferInput!) { sendOffer(input: $in) { offer { id } } }`,
			map[string]any{"in": map[string]any{"applicationId": applied.ApplyToJob.ID, "amount": "66.67", "timeline": "7 days", "description": "Build the whole website"}}, nil)
		want("deposit and offer", "30.00", "70.00", "0.00", nil)

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
		want("funds withdrawn", "0.00", "70.00", "70.00", &chargeback)
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
		want("deposit paying back", "30.00", "70.00", "0.00", &chargeback)
		if got := splitOf(t, srv, *srv.App.Client.Deposit.GetX(ctx, second.ID).TransactionID); got[ledgeraccount.KindRECEIVABLE] != 7000 || got[ledgeraccount.KindAVAILABLE] != 3000 {
			t.Fatalf("second deposit's postings: %v; want receivable +70.00, available +30.00", got)
		}
		stats("paid back", "0.00", "15.00", 1)

		// Closed (won, twice): nothing owed, the wallet is unfrozen.
		deliver(closed)
		deliver(closed)
		want("closed", "30.00", "70.00", "0.00", nil)
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
		want("reinstated", "130.00", "70.00", "0.00", nil)
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
