package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/server/servertest"
)

const payForJob = `mutation($in: PayForJobInput!) { payForJob(input: $in) { sessionId checkoutUrl } }`
const jobMoney = `query($id: ID!) { job(id: $id) { status contractor { id } contract { id escrow { status fundingSource amount platformFee } } } }`

type jobMoneyResult struct {
	Job struct {
		Status     string
		Contractor *struct{ ID string }
		Contract   *struct {
			ID     string
			Escrow struct{ Status, FundingSource, Amount, PlatformFee string }
		}
	}
}

func postJob(t *testing.T, c *servertest.Client) string {
	t.Helper()
	var out struct{ CreateJob struct{ ID string } }
	c.MustDo(t, `mutation { createJob(input: {title: "Build a website", description: "A small shop site", budget: "100"}) { id } }`, nil, &out)
	return out.CreateJob.ID
}

// cardPaidContract posts a job of c's and pays its Checkout with the
// 4242 card for contractorID: a contract with a card-funded escrow, whose
// id it returns.
func cardPaidContract(t *testing.T, c *servertest.Client, contractorID string) string {
	t.Helper()
	jobID := postJob(t, c)
	var session struct{ PayForJob struct{ CheckoutURL string } }
	c.MustDo(t, payForJob, map[string]any{"in": map[string]any{"jobId": jobID, "freelancerId": contractorID, "title": "Website", "rate": "100"}}, &session)
	if resp, _ := payCheckout(t, session.PayForJob.CheckoutURL, "4242424242424242"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pay: %d", resp.StatusCode)
	}
	var got jobMoneyResult
	c.MustDo(t, jobMoney, map[string]any{"id": jobID}, &got)
	return got.Job.Contract.ID
}

// TestPayForJobInTheSandbox: the Skillhouse flow end to end — Checkout,
// the signed event, a card-funded escrow — then a refund to the wallet.
func TestPayForJobInTheSandbox(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		customer, freelancer := srv.Register(t, "CUSTOMER"), srv.Register(t, "FREELANCER")
		cc := srv.Client(customer.AccessToken)
		jobID := postJob(t, cc)

		in := map[string]any{"jobId": jobID, "freelancerId": freelancer.ID, "title": "Website", "rate": "100"}
		srv.Client(freelancer.AccessToken).Do(t, payForJob, map[string]any{"in": in}).RequireError(t, "FORBIDDEN")
		var session struct {
			PayForJob struct{ SessionID, CheckoutURL string }
		}
		cc.MustDo(t, payForJob, map[string]any{"in": in}, &session)
		_, page := srv.Get(t, strings.TrimPrefix(session.PayForJob.CheckoutURL, srv.URL))
		if !strings.Contains(page, "$105.00") {
			t.Fatalf("checkout page does not charge $105.00: %.300s", page)
		}
		if resp, _ := payCheckout(t, session.PayForJob.CheckoutURL, "4242424242424242"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("pay: %d", resp.StatusCode)
		}
		var got jobMoneyResult
		cc.MustDo(t, jobMoney, map[string]any{"id": jobID}, &got)
		if got.Job.Status != "ASSIGNED" || got.Job.Contractor == nil || got.Job.Contractor.ID != freelancer.ID || got.Job.Contract == nil ||
			got.Job.Contract.Escrow.Status != "FUNDED" || got.Job.Contract.Escrow.FundingSource != "CHECKOUT" || got.Job.Contract.Escrow.Amount != "100.00" {
			t.Fatalf("after checkout: %+v", got.Job)
		}
		if r := srv.RequireLedgerVerified(t); r.Revenue != 500 || r.Escrow != 10000 {
			t.Fatalf("ledger after checkout: %+v", r)
		}

		// Only the contract's customer or an admin may refund: not its
		// contractor, not another customer.
		refund := `mutation($c: ID!) { refundEscrow(input: {contractId: $c, refundTo: WALLET}) { status } }`
		for _, u := range []servertest.User{freelancer, srv.Register(t, "CUSTOMER")} {
			srv.Client(u.AccessToken).Do(t, refund, map[string]any{"c": got.Job.Contract.ID}).RequireError(t, "FORBIDDEN")
		}
		// Nor may another customer pay for someone else's job.
		other := srv.Register(t, "CUSTOMER")
		srv.Client(other.AccessToken).Do(t, payForJob, map[string]any{"in": in}).RequireError(t, "FORBIDDEN")

		// Refund to the wallet: amount and platform fee come back.
		var refunded struct {
			RefundEscrow struct{ Status, CancelReason string }
		}
		cc.MustDo(t, `mutation($c: ID!) { refundEscrow(input: {contractId: $c, cancelReason: "changed_mind", refundTo: WALLET}) { status cancelReason } }`,
			map[string]any{"c": got.Job.Contract.ID}, &refunded)
		if refunded.RefundEscrow.Status != "REFUNDED" || refunded.RefundEscrow.CancelReason != "changed_mind" {
			t.Fatalf("refund: %+v", refunded)
		}
		if w := walletOf(t, cc); w.Wallet.Balance != "105.00" || w.Wallet.EscrowBalance != "0.00" || w.Wallet.TotalSpent != "0.00" {
			t.Fatalf("wallet after refund: %+v", w)
		}
		cc.MustDo(t, jobMoney, map[string]any{"id": jobID}, &got)
		if got.Job.Status != "CANCELLED" {
			t.Fatalf("job after refund: %+v", got.Job)
		}
		if r := srv.RequireLedgerVerified(t); r.Revenue != 0 {
			t.Fatalf("revenue after refund: %d", r.Revenue)
		}
	})
}

// TestJobCheckoutWebhookAndCardRefund: a paid job Checkout delivered twice
// makes one contract and one escrow; an admin's refund to the card goes to
// Stripe (stripe-mock) and the money leaves the ledger to the outside.
func TestJobCheckoutWebhookAndCardRefund(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		servertest.StripeEnv(env, servertest.StripeMock(t))
		srv := servertest.Start(t, env)
		customer, freelancer, admin := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR"), srv.Admin(t)
		cc := srv.Client(customer.AccessToken)
		jobID := postJob(t, cc)

		var session struct {
			PayForJob struct{ SessionID, CheckoutURL string }
		}
		cc.MustDo(t, payForJob, map[string]any{"in": map[string]any{"jobId": jobID, "freelancerId": freelancer.ID, "title": "Website", "rate": "100"}}, &session)
		if session.PayForJob.CheckoutURL == "" {
			t.Fatalf("payForJob: %+v", session)
		}

		ev := servertest.StripeEvent(t, "evt_job_1", stripe.EventTypeCheckoutSessionCompleted, map[string]any{
			"id": "cs_test_job_1", "object": "checkout.session", "payment_status": "paid", "status": "complete",
			"amount_total": 10500, "currency": "usd", "payment_intent": "pi_job_1",
			"metadata": map[string]string{"kind": "job_payment", "job_id": jobID, "client_id": customer.ID,
				"freelancer_id": freelancer.ID, "amount": "10000"},
		})
		for range 2 {
			if code := srv.PostWebhook(t, "/webhooks/stripe", ev, servertest.Sign(ev, servertest.WebhookSecret, time.Time{})); code != http.StatusOK {
				t.Fatalf("webhook: %d", code)
			}
		}
		// The same payment redelivered as a different event id: still one.
		ev2 := []byte(strings.Replace(string(ev), "evt_job_1", "evt_job_2", 1))
		srv.PostWebhook(t, "/webhooks/stripe", ev2, servertest.Sign(ev2, servertest.WebhookSecret, time.Time{}))
		ctx := context.Background()
		if n := srv.App.Client.Contract.Query().Where(contract.JobID(toID(jobID))).CountX(ctx); n != 1 {
			t.Fatalf("contracts: %d", n)
		}
		if n := srv.App.Client.Escrow.Query().Where(escrow.StripeCheckoutSessionID("cs_test_job_1")).CountX(ctx); n != 1 {
			t.Fatalf("escrows: %d", n)
		}
		var got jobMoneyResult
		cc.MustDo(t, jobMoney, map[string]any{"id": jobID}, &got)
		srv.RequireLedgerVerified(t)

		// Admin refund, to the card by default for a card-funded escrow.
		var refunded struct{ RefundEscrow struct{ Status string } }
		ac := srv.Client(admin.AccessToken)
		ac.Header.Set("X-Request-ID", "rid-card-refund")
		ac.MustDo(t, `mutation($c: ID!) { refundEscrow(input: {contractId: $c, cancelReason: "dispute"}) { status } }`,
			map[string]any{"c": got.Job.Contract.ID}, &refunded)
		if refunded.RefundEscrow.Status != "REFUNDED" {
			t.Fatalf("refund: %+v", refunded)
		}
		// In the audit log once, as the admin's, though claimed and recorded in two transactions.
		if log := auditLog(t, ac, map[string]any{"target": got.Job.Contract.ID}); len(log) != 1 || log[0].Actor.ID != admin.ID ||
			log[0].Action != "REFUND_ESCROW" || stripeStr(log[0].Before) != "FUNDED" || stripeStr(log[0].After) != "REFUNDED" ||
			stripeStr(log[0].Reason) != "dispute" || stripeStr(log[0].RequestID) != "rid-card-refund" {
			t.Fatalf("audit log of the refund: %+v", log)
		}
		if w := walletOf(t, cc); w.Wallet.Balance != "0.00" || w.Wallet.EscrowBalance != "0.00" {
			t.Fatalf("wallet after card refund: %+v", w)
		}
		if r := srv.RequireLedgerVerified(t); r.Revenue != 0 || r.External != 0 {
			t.Fatalf("ledger after card refund: %+v", r)
		}
		// Once refunded, never again.
		ac.Do(t, `mutation($c: ID!) { refundEscrow(input: {contractId: $c}) { status } }`,
			map[string]any{"c": got.Job.Contract.ID}).RequireError(t, "CONFLICT")
		if log := auditLog(t, ac, map[string]any{"target": got.Job.Contract.ID}); len(log) != 1 {
			t.Fatalf("a refused refund is in the audit log: %+v", log)
		}
	})
}

func toID(s string) pulid.ID { return pulid.ID(s) }
