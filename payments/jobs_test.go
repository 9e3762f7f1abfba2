package payments

import (
	"errors"
	"strconv"
	"testing"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/market"
)

// TestJobCheckout: a paid job Checkout funds the job's escrow, once; a
// session whose total is not what payForJob asked for funds nothing and
// lands in the customer's wallet; an unpaid or expired one creates nothing.
func TestJobCheckout(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		cust, con := f.user(t, role.Customer), f.user(t, role.Contractor)
		j, err := f.market.CreateJob(f.ctx, cust, market.CreateJobInput{Title: "Paint the fence", Description: "White, both sides.", Budget: 10000})
		if err != nil {
			t.Fatal(err)
		}
		cs, err := f.svc.PayForJob(f.ctx, cust, PayForJobInput{JobID: j.ID, FreelancerID: con.UserID, Rate: 10000})
		if err != nil {
			t.Fatal(err)
		}
		split, err := ledger.Fees(10000, testRates)
		if err != nil {
			t.Fatal(err)
		}
		session := func(typ EventType, paid bool, total int64) Event {
			return Event{Type: typ, CheckoutSession: &EventCheckoutSession{
				ID: cs.ID, ClientReferenceID: string(j.ID), Paid: paid, AmountTotal: total, Currency: "usd", PaymentIntentID: "pi_job",
				Metadata: map[string]string{"kind": "job_payment", "job_id": string(j.ID), "client_id": string(cust.UserID),
					"freelancer_id": string(con.UserID), "amount": strconv.FormatInt(10000, 10)},
			}}
		}
		f.mustDeliver(t, session(CheckoutSessionCompleted, false, split.TotalCharge))
		f.mustDeliver(t, session(CheckoutSessionExpired, false, split.TotalCharge))
		f.mustDeliver(t, session(CheckoutSessionAsyncPaymentFailed, false, split.TotalCharge))
		if n, err := f.client.Escrow.Query().Count(f.ctx); n != 0 || err != nil {
			t.Fatalf("%d escrows after unpaid sessions (%v)", n, err)
		}
		for range 2 {
			f.mustDeliver(t, session(CheckoutSessionCompleted, true, split.TotalCharge))
		}
		esc, err := f.client.Escrow.Query().Only(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if esc.Status != escrow.StatusFUNDED || esc.FundingSource != escrow.FundingSourceCHECKOUT || esc.Amount != 10000 {
			t.Fatalf("escrow: %+v", esc)
		}
		if got, err := f.client.Job.Get(f.ctx, j.ID); err != nil || got.Status != job.StatusASSIGNED {
			t.Fatalf("job after checkout: %+v, %v", got, err)
		}
		f.verify(t)

		// Not the total asked for: no contract, the money to the wallet.
		other, err := f.market.CreateJob(f.ctx, cust, market.CreateJobInput{Title: "Mow the lawn", Description: "Front and back.", Budget: 10000})
		if err != nil {
			t.Fatal(err)
		}
		wrong := session(CheckoutSessionAsyncPaymentSucceeded, true, split.TotalCharge-1)
		wrong.CheckoutSession.ID = "cs_wrong_total"
		wrong.CheckoutSession.Metadata["job_id"] = string(other.ID)
		f.mustDeliver(t, wrong)
		f.wallet(t, cust, split.TotalCharge-1, 0)
		if got, err := f.client.Job.Get(f.ctx, other.ID); err != nil || got.Status != job.StatusOPEN {
			t.Fatalf("job of a wrong total: %+v, %v", got, err)
		}
		f.verify(t)
	})
}

// TestCardRefunds: RefundCard says refused only when the refund was surely
// not made: the gateway refused it, or the card did.
func TestCardRefunds(t *testing.T) {
	gw := newScriptedGateway()
	r := NewCardRefunds(gw)
	for _, c := range []struct {
		name    string
		answer  error
		refused bool
	}{
		{"refunded", nil, false},
		{"refused", &RefusedError{Message: "charge is disputed", Err: errors.New("stripe: 400")}, true},
		{"card error", CardDeclined("card_declined", ""), true},
		{"timeout", errors.New("stripe: timeout"), false},
		{"idempotency conflict", jobsphere.Errorf(jobsphere.Conflict, "This request was already made with different details"), false},
	} {
		gw.script("refund", c.answer)
		refused, err := r.RefundCard(t.Context(), "escrow:1:refund", "pi_1", 100)
		if refused != c.refused || (err == nil) != (c.answer == nil) || (c.answer != nil && !errors.Is(err, c.answer)) {
			t.Errorf("%s: refused %v, err %v; want refused %v, err %v", c.name, refused, err, c.refused, c.answer)
		}
	}
	if refused, err := r.RefundCard(t.Context(), "escrow:2:refund", "", 100); !refused || jobsphere.ErrorCode(err) != jobsphere.Conflict {
		t.Errorf("no payment intent: refused %v, err %v", refused, err)
	}
}
