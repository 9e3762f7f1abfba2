package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere/server/servertest"
)

// TestFreeTextIsBounded: every free-text input has a length limit. Text
// over it (here 900 KB, as the attack sent) is refused with
// BAD_USER_INPUT naming the field, and nothing is stored or changed.
func TestFreeTextIsBounded(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		customer, contractor, admin := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR"), srv.Admin(t)
		cc, kc, ac := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken), srv.Client(admin.AccessToken)
		srv.Fund(t, customer.ID, 50000)
		srv.Fund(t, contractor.ID, 5000)
		var job, pendingJob struct{ CreateJob struct{ ID string } }
		createJob := `mutation($in: CreateJobInput!) { createJob(input: $in) { id } }`
		jobInput := map[string]any{"title": "Fix the sink", "description": "A leaking kitchen sink", "budget": "100"}
		cc.MustDo(t, createJob, map[string]any{"in": jobInput}, &job)
		cc.MustDo(t, createJob, map[string]any{"in": jobInput}, &pendingJob)
		apply := `mutation($in: ApplyToJobInput!) { applyToJob(input: $in) { id } }`
		var app, pendingApp struct{ ApplyToJob struct{ ID string } }
		kc.MustDo(t, apply, map[string]any{"in": map[string]any{"jobId": job.CreateJob.ID}}, &app)
		kc.MustDo(t, apply, map[string]any{"in": map[string]any{"jobId": pendingJob.CreateJob.ID}}, &pendingApp)
		sendOffer := `mutation($in: SendOfferInput!) { sendOffer(input: $in) { offer { id } } }`
		var offer, pendingOffer struct {
			SendOffer struct{ Offer struct{ ID string } }
		}
		offerInput := func(app string) map[string]any {
			return map[string]any{"in": map[string]any{"applicationId": app, "amount": "100", "timeline": "7 days", "description": "Replace the cartridge"}}
		}
		cc.MustDo(t, sendOffer, offerInput(app.ApplyToJob.ID), &offer)
		cc.MustDo(t, sendOffer, offerInput(pendingApp.ApplyToJob.ID), &pendingOffer)
		var accepted struct {
			AcceptOffer struct{ Contract struct{ ID string } }
		}
		kc.MustDo(t, `mutation($id: ID!) { acceptOffer(offerId: $id) { contract { id } } }`, map[string]any{"id": offer.SendOffer.Offer.ID}, &accepted)

		huge := strings.Repeat("x", 900_000)
		over := func(n int) string { return strings.Repeat("é", n+1) } // characters, not bytes
		before := textSnapshot(t, srv)
		for _, c := range []struct {
			name   string
			client *servertest.Client
			doc    string
			vars   map[string]any
			field  string
		}{
			{"createJob category", cc, createJob, map[string]any{"in": with(jobInput, "category", huge)}, "category"},
			{"createJob location", cc, createJob, map[string]any{"in": with(jobInput, "location", over(200))}, "location"},
			{"applyToJob coverLetter", kc, apply, map[string]any{"in": map[string]any{"jobId": job.CreateJob.ID, "coverLetter": huge}}, "coverLetter"},
			{"cancelJob reason", cc, `mutation($id: ID!, $r: String) { cancelJob(jobId: $id, reason: $r) { job { id } } }`,
				map[string]any{"id": job.CreateJob.ID, "r": huge}, "reason"},
			{"rejectOffer reason", kc, `mutation($id: ID!, $r: String) { rejectOffer(offerId: $id, reason: $r) { offer { id } } }`,
				map[string]any{"id": pendingOffer.SendOffer.Offer.ID, "r": over(500)}, "reason"},
			{"refundEscrow cancelReason", cc, `mutation($in: RefundEscrowInput!) { refundEscrow(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"contractId": accepted.AcceptOffer.Contract.ID, "cancelReason": huge}}, "cancelReason"},
			{"refundEscrow cancelReasonDescription", cc, `mutation($in: RefundEscrowInput!) { refundEscrow(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"contractId": accepted.AcceptOffer.Contract.ID, "cancelReasonDescription": huge}}, "cancelReasonDescription"},
			{"payForJob title", cc, `mutation($in: PayForJobInput!) { payForJob(input: $in) { sessionId } }`,
				map[string]any{"in": map[string]any{"jobId": pendingJob.CreateJob.ID, "freelancerId": contractor.ID, "rate": "100", "title": strings.Repeat("t", 500_000)}}, "title"},
			{"withdraw idempotencyKey", kc, `mutation($k: String) { withdraw(amount: "10", idempotencyKey: $k) { withdrawal { id } } }`,
				map[string]any{"k": over(255)}, "idempotencyKey"},
			{"freezeWallet reason", ac, `mutation($u: ID!, $r: String!) { freezeWallet(userId: $u, reason: $r) { isFrozen } }`,
				map[string]any{"u": customer.ID, "r": huge}, "reason"},
			{"rejectWithdrawal reason", ac, `mutation($id: ID!, $r: String!) { rejectWithdrawal(id: $id, reason: $r) { id } }`,
				map[string]any{"id": "wdr_01JZZZZZZZZZZZZZZZZZZZZZZZ", "r": huge}, "reason"},
		} {
			e := c.client.Do(t, c.doc, c.vars).RequireError(t, "BAD_USER_INPUT")
			if fs := e.Fields(); len(fs) != 1 || fs[0].Field != c.field || !strings.Contains(fs[0].Message, "must be at most") {
				t.Errorf("%s: fields %+v, want %s too long", c.name, fs, c.field)
			}
			if len(e.Message) > 200 {
				t.Errorf("%s: the message echoes the input (%d bytes)", c.name, len(e.Message))
			}
			if after := textSnapshot(t, srv); after != before {
				t.Errorf("%s changed something:\nbefore %s\nafter  %s", c.name, before, after)
			}
		}
		srv.RequireLedgerVerified(t)
	})
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{k: v}
	for key, val := range m {
		if key != k {
			out[key] = val
		}
	}
	return out
}

// textSnapshot is every row a refused input might have touched.
func textSnapshot(t *testing.T, srv *servertest.Server) string {
	t.Helper()
	ctx, c := context.Background(), srv.App.Client
	var b strings.Builder
	for _, j := range c.Job.Query().Order().AllX(ctx) {
		fmt.Fprintf(&b, "job %s %s %v %v %v;", j.ID, j.Status, j.Category, j.Location, j.CancellationReason)
	}
	fmt.Fprintf(&b, "applications %d; ", c.JobApplication.Query().CountX(ctx))
	for _, o := range c.Offer.Query().AllX(ctx) {
		fmt.Fprintf(&b, "offer %s %s %v;", o.ID, o.Status, o.RejectionReason)
	}
	for _, e := range c.Escrow.Query().AllX(ctx) {
		fmt.Fprintf(&b, "escrow %s %s %v %v;", e.ID, e.Status, e.CancelReason, e.CancelReasonDescription)
	}
	for _, w := range c.Wallet.Query().AllX(ctx) {
		fmt.Fprintf(&b, "wallet %s %d %d %v;", w.UserID, w.Balance, w.EscrowBalance, w.IsFrozen)
	}
	fmt.Fprintf(&b, "withdrawals %d", c.Withdrawal.Query().CountX(ctx))
	return b.String()
}
