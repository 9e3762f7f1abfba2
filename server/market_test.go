package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere/server/servertest"
)

type moneyView struct {
	Wallet struct{ Balance, EscrowBalance, TotalSpent, TotalEarnings string }
}

func walletOf(t *testing.T, c *servertest.Client) moneyView {
	t.Helper()
	var w moneyView
	c.MustDo(t, `{ wallet { balance escrowBalance totalSpent totalEarnings } }`, nil, &w)
	return w
}

func revenue(t *testing.T, srv *servertest.Server) int64 {
	t.Helper()
	return srv.RequireLedgerVerified(t).Revenue
}

// TestHundredDollarJobOverGraphQL is the seeds' $100 example, end to end
// over GraphQL, with the ledger verified after every step.
func TestHundredDollarJobOverGraphQL(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		customer, contractor, other, admin := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR"), srv.Register(t, "CONTRACTOR"), srv.Admin(t)
		cc, kc, oc, ac := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken), srv.Client(other.AccessToken), srv.Client(admin.AccessToken)
		srv.Fund(t, customer.ID, 20000)

		var created struct {
			CreateJob struct{ ID, Status, Budget string }
		}
		cc.MustDo(t, `mutation($in: CreateJobInput!) { createJob(input: $in) { id status budget } }`,
			map[string]any{"in": map[string]any{"title": "Fix the sink", "description": "A leaking kitchen sink", "budget": "100", "category": "Plumbing"}}, &created)
		jobID := created.CreateJob.ID
		if created.CreateJob.Status != "OPEN" || created.CreateJob.Budget != "100.00" {
			t.Fatalf("createJob: %+v", created)
		}
		apply := `mutation($in: ApplyToJobInput!) { applyToJob(input: $in) { id status } }`
		var app, otherApp struct{ ApplyToJob struct{ ID, Status string } }
		kc.MustDo(t, apply, map[string]any{"in": map[string]any{"jobId": jobID, "coverLetter": "Licensed plumber"}}, &app)
		oc.MustDo(t, apply, map[string]any{"in": map[string]any{"jobId": jobID}}, &otherApp)

		var sent struct {
			SendOffer struct {
				Offer   struct{ ID, Status, TotalCharge string }
				Wallet  struct{ Balance, EscrowBalance string }
				Amounts map[string]string
			}
		}
		cc.MustDo(t, `mutation($in: SendOfferInput!) { sendOffer(input: $in) {
			offer { id status totalCharge } wallet { balance escrowBalance }
			amounts { jobBudget platformFee serviceFee contractorPayout totalCharge adminTotal } } }`,
			map[string]any{"in": map[string]any{"applicationId": app.ApplyToJob.ID, "amount": "100.00", "timeline": "7 days", "description": "Replace the cartridge"}}, &sent)
		amounts, _ := json.Marshal(sent.SendOffer.Amounts)
		if sent.SendOffer.Wallet.Balance != "95.00" || sent.SendOffer.Wallet.EscrowBalance != "105.00" ||
			string(amounts) != `{"adminTotal":"25.00","contractorPayout":"80.00","jobBudget":"100.00","platformFee":"5.00","serviceFee":"20.00","totalCharge":"105.00"}` {
			t.Fatalf("sendOffer: %+v %s", sent.SendOffer, amounts)
		}
		if r := revenue(t, srv); r != 0 {
			t.Fatalf("revenue after send: %d", r)
		}
		offerID := sent.SendOffer.Offer.ID

		// Only the offer's contractor may accept.
		oc.Do(t, `mutation($id: ID!) { acceptOffer(offerId: $id) { offer { id } } }`, map[string]any{"id": offerID}).RequireError(t, "FORBIDDEN")
		var accepted struct {
			AcceptOffer struct {
				Offer struct{ Status string }
				Job   struct {
					Status     string
					Contractor struct{ ID string }
				}
				Contract struct {
					ID, Status string
					Escrow     struct{ Status, FundingSource, Amount string }
				}
			}
		}
		const offerFields = `id status acceptedAt expiresAt createdAt updatedAt`
		const contractFields = `id status createdAt updatedAt escrow { id status fundingSource amount createdAt updatedAt }`
		var acceptAnswer json.RawMessage
		kc.MustDo(t, `mutation($id: ID!) { acceptOffer(offerId: $id) {
			offer { `+offerFields+` } job { status contractor { id } } contract { `+contractFields+` } } }`, map[string]any{"id": offerID}, &acceptAnswer)
		if err := json.Unmarshal(acceptAnswer, &accepted); err != nil {
			t.Fatal(err)
		}
		a := accepted.AcceptOffer
		if a.Offer.Status != "ACCEPTED" || a.Job.Status != "ASSIGNED" || a.Job.Contractor.ID != contractor.ID ||
			a.Contract.Status != "ACTIVE" || a.Contract.Escrow.Status != "FUNDED" || a.Contract.Escrow.FundingSource != "WALLET" || a.Contract.Escrow.Amount != "100.00" {
			t.Fatalf("acceptOffer: %+v", a)
		}
		if r := revenue(t, srv); r != 500 {
			t.Fatalf("revenue after accept: %d", r)
		}
		// acceptOffer answers with what it wrote, not read back: the same
		// as a read of it afterwards.
		var answer struct {
			AcceptOffer struct{ Offer, Contract map[string]any }
		}
		if err := json.Unmarshal(acceptAnswer, &answer); err != nil {
			t.Fatal(err)
		}
		var read struct{ Offer, Contract struct{ Node map[string]any } }
		kc.MustDo(t, `query($id: ID!) { node(id: $id) { ... on Offer { `+offerFields+` } } }`, map[string]any{"id": offerID}, &read.Offer)
		kc.MustDo(t, `query($id: ID!) { node(id: $id) { ... on Contract { `+contractFields+` } } }`, map[string]any{"id": a.Contract.ID}, &read.Contract)
		if got, want := fmt.Sprint(answer.AcceptOffer.Offer, answer.AcceptOffer.Contract), fmt.Sprint(read.Offer.Node, read.Contract.Node); got != want {
			t.Fatalf("acceptOffer answered\n%s\na read of it gives\n%s", got, want)
		}

		// The job's owner sees both applications, the other one now REJECTED;
		// a stranger sees neither the offer nor the contract.
		var seen struct {
			Job struct {
				Offer        *struct{ ID string }
				Contract     *struct{ ID string }
				Applications struct {
					TotalCount int
					Edges      []struct{ Node struct{ Status string } }
				}
			}
		}
		jobQuery := `query($id: ID!) { job(id: $id) { offer { id } contract { id } applications { totalCount edges { node { status } } } } }`
		cc.MustDo(t, jobQuery, map[string]any{"id": jobID}, &seen)
		if seen.Job.Offer == nil || seen.Job.Contract == nil || seen.Job.Applications.TotalCount != 2 {
			t.Fatalf("customer's view: %+v", seen.Job)
		}
		stranger := srv.Register(t, "CUSTOMER")
		srv.Client(stranger.AccessToken).MustDo(t, jobQuery, map[string]any{"id": jobID}, &seen)
		if seen.Job.Offer != nil || seen.Job.Contract != nil || seen.Job.Applications.TotalCount != 0 {
			t.Fatalf("stranger's view: %+v", seen.Job)
		}
		oc.MustDo(t, jobQuery, map[string]any{"id": jobID}, &seen)
		if seen.Job.Applications.TotalCount != 1 || seen.Job.Applications.Edges[0].Node.Status != "REJECTED" {
			t.Fatalf("other applicant's view: %+v", seen.Job)
		}

		rate := `mutation($in: RateFreelancerInput!) { rateFreelancer(input: $in) { rating description freelancer { id } } }`
		rateInput := func(rating int) map[string]any {
			return map[string]any{"in": map[string]any{"contractId": a.Contract.ID, "rating": rating, "description": "Quick and tidy"}}
		}
		cc.Do(t, rate, rateInput(5)).RequireError(t, "CONFLICT") // not completed yet

		kc.MustDo(t, `mutation($id: ID!) { updateJobStatus(id: $id, status: IN_PROGRESS) { status } }`, map[string]any{"id": jobID}, nil)
		e := cc.Do(t, `mutation($id: ID!) { updateJobStatus(id: $id, status: OPEN) { status } }`, map[string]any{"id": jobID}).RequireError(t, "CONFLICT")
		if e.Message != "Job is IN_PROGRESS and cannot move to OPEN; a job never returns to OPEN" {
			t.Fatalf("conflict message: %q", e.Message)
		}

		var completed struct {
			CompleteJob struct {
				AwaitingApproval bool
				Escrow           struct{ Status string }
				Payment          map[string]string
			}
		}
		cc.MustDo(t, `mutation($id: ID!) { completeJob(jobId: $id) { awaitingApproval escrow { status } payment { serviceFee contractorPayout adminTotal } } }`,
			map[string]any{"id": jobID}, &completed)
		if !completed.CompleteJob.AwaitingApproval || completed.CompleteJob.Escrow.Status != "RELEASE_REQUESTED" {
			t.Fatalf("completeJob: %+v", completed)
		}
		revenue(t, srv)
		cc.Do(t, `mutation($id: ID!) { approveFundRelease(contractId: $id) { status } }`, map[string]any{"id": a.Contract.ID}).RequireError(t, "FORBIDDEN")
		// The answer is the escrow and contract as the release wrote them,
		// not read back: the same as a read of them afterwards.
		const escrowFields = `id status amount releasedAt refundedAt updatedAt createdAt
			contract { id status completedAt updatedAt createdAt job { id status completedAt } }`
		var approved struct{ ApproveFundRelease map[string]any }
		ac.MustDo(t, `mutation($id: ID!) { approveFundRelease(contractId: $id) { `+escrowFields+` } }`, map[string]any{"id": a.Contract.ID}, &approved)
		var reread struct {
			Node struct{ Escrow map[string]any }
		}
		ac.MustDo(t, `query($id: ID!) { node(id: $id) { ... on Contract { escrow { `+escrowFields+` } } } }`, map[string]any{"id": a.Contract.ID}, &reread)
		if got, want := fmt.Sprint(approved.ApproveFundRelease), fmt.Sprint(reread.Node.Escrow); approved.ApproveFundRelease["status"] != "RELEASED" || got != want {
			t.Fatalf("approve answered\n%s\na read of it gives\n%s", got, want)
		}
		ac.Do(t, `mutation($id: ID!) { approveFundRelease(contractId: $id) { status } }`, map[string]any{"id": a.Contract.ID}).RequireError(t, "CONFLICT")

		if r := revenue(t, srv); r != 2500 {
			t.Fatalf("revenue after release: %d", r)
		}
		cw, kw := walletOf(t, cc), walletOf(t, kc)
		if cw.Wallet.Balance != "95.00" || cw.Wallet.EscrowBalance != "0.00" || cw.Wallet.TotalSpent != "105.00" {
			t.Fatalf("customer: %+v", cw)
		}
		if kw.Wallet.Balance != "80.00" || kw.Wallet.TotalEarnings != "80.00" {
			t.Fatalf("contractor: %+v", kw)
		}
		var done struct{ Job struct{ Status string } }
		cc.MustDo(t, `query($id: ID!) { job(id: $id) { status } }`, map[string]any{"id": jobID}, &done)
		if done.Job.Status != "COMPLETED" {
			t.Fatalf("job: %+v", done)
		}

		// Reviews: the contract's customer, once, 1 to 5; public to read.
		for _, bad := range []int{0, 6} {
			cc.Do(t, rate, rateInput(bad)).RequireError(t, "BAD_USER_INPUT")
		}
		srv.Client(stranger.AccessToken).Do(t, rate, rateInput(1)).RequireError(t, "FORBIDDEN")
		cc.MustDo(t, rate, rateInput(4), nil)
		cc.Do(t, rate, rateInput(5)).RequireError(t, "CONFLICT")
		var reviews struct {
			Reviews struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						Rating      int
						Description string
					}
				}
			}
			Node struct {
				Rating struct {
					Average float64
					Count   int
				}
			}
		}
		srv.Client("").MustDo(t, `query($k: ID!) { reviews(freelancerId: $k) { totalCount edges { node { rating description } } } }`,
			map[string]any{"k": contractor.ID}, &reviews)
		if reviews.Reviews.TotalCount != 1 || reviews.Reviews.Edges[0].Node.Rating != 4 {
			t.Fatalf("reviews: %+v", reviews.Reviews)
		}
		cc.MustDo(t, `query($k: ID!) { node(id: $k) { ... on User { rating { average count } } } }`, map[string]any{"k": contractor.ID}, &reviews)
		if reviews.Node.Rating.Average != 4 || reviews.Node.Rating.Count != 1 {
			t.Fatalf("rating: %+v", reviews.Node)
		}
		// A login payload shows the signed-in user's email, not the emails
		// of people nested below them (a review's client).
		var nested struct {
			Login struct {
				User struct {
					Email   string
					Reviews struct {
						Edges []struct {
							Node struct{ Client struct{ Email *string } }
						}
					}
				}
			}
		}
		srv.Client("").MustDo(t, `mutation($in: LoginInput!) { login(input: $in) { user { email reviews { edges { node { client { email } } } } } } }`,
			map[string]any{"in": map[string]any{"email": contractor.Email, "password": contractor.Password}}, &nested)
		if nested.Login.User.Email != contractor.Email || nested.Login.User.Reviews.Edges[0].Node.Client.Email != nil {
			t.Fatalf("emails through a login payload: %+v", nested.Login.User)
		}

		// A contract is public through its review; its money is not.
		srv.Client(stranger.AccessToken).Do(t, `query($k: ID!) { reviews(freelancerId: $k) { edges { node { contract { escrow { amount } } } } } }`,
			map[string]any{"k": contractor.ID}).RequireError(t, "FORBIDDEN")

		// The history links the payout to its job, offer and contract.
		var hist struct {
			Transactions struct {
				Edges []struct {
					Node struct {
						Type                 string
						Job, Offer, Contract *struct{ ID string }
					}
				}
			}
		}
		kc.MustDo(t, `{ transactions { edges { node { type job { id } offer { id } contract { id } } } } }`, nil, &hist)
		n := hist.Transactions.Edges[0].Node
		if n.Type != "CONTRACTOR_PAYOUT" || n.Job == nil || n.Job.ID != jobID || n.Offer == nil || n.Contract == nil {
			t.Fatalf("payout in history: %+v", n)
		}
	})
}

func TestJobsListing(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		alice, bob := srv.Register(t, "CUSTOMER"), srv.Register(t, "CUSTOMER")
		create := `mutation($in: CreateJobInput!) { createJob(input: $in) { id } }`
		for i, c := range []struct {
			who      servertest.User
			budget   string
			category string
		}{{alice, "50", "Plumbing"}, {bob, "150", "Plumbing"}, {alice, "250", "Painting"}, {bob, "350", "Plumbing"}, {alice, "450", "Plumbing"}} {
			srv.Client(c.who.AccessToken).MustDo(t, create, map[string]any{"in": map[string]any{
				"title": "Job number " + string(rune('A'+i)), "description": "Something to do at home", "budget": c.budget, "category": c.category}}, nil)
		}
		q := `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $where: JobWhereInput, $order: JobOrder, $mine: Boolean) {
			jobs(first: $first, after: $after, last: $last, before: $before, where: $where, orderBy: $order, mine: $mine) {
				totalCount pageInfo { hasNextPage endCursor startCursor } edges { node { budget } } } }`
		type page struct {
			Jobs struct {
				TotalCount int
				PageInfo   struct {
					HasNextPage            bool
					EndCursor, StartCursor string
				}
				Edges []struct{ Node struct{ Budget string } }
			}
		}
		budgets := func(p page) []string {
			var out []string
			for _, e := range p.Jobs.Edges {
				out = append(out, e.Node.Budget)
			}
			return out
		}
		c := srv.Client(bob.AccessToken)
		var p page
		where := map[string]any{"category": "Plumbing", "budgetGTE": "100.00", "status": "OPEN"}
		for _, order := range []map[string]any{{"field": "BUDGET", "direction": "DESC"}, {"field": "CREATED_AT", "direction": "DESC"}} {
			c.MustDo(t, q, map[string]any{"first": 2, "where": where, "order": order}, &p)
			if p.Jobs.TotalCount != 3 || !equal(budgets(p), "450.00", "350.00") || !p.Jobs.PageInfo.HasNextPage {
				t.Fatalf("%v first page: %+v", order, p.Jobs)
			}
			c.MustDo(t, q, map[string]any{"first": 2, "after": p.Jobs.PageInfo.EndCursor, "where": where, "order": order}, &p)
			if !equal(budgets(p), "150.00") {
				t.Fatalf("%v second page: %+v", order, p.Jobs)
			}
			c.MustDo(t, q, map[string]any{"last": 2, "before": p.Jobs.PageInfo.StartCursor, "where": where, "order": order}, &p)
			if !equal(budgets(p), "450.00", "350.00") {
				t.Fatalf("%v back: %+v", order, p.Jobs)
			}
		}
		c.MustDo(t, q, map[string]any{"mine": true}, &p)
		if p.Jobs.TotalCount != 2 {
			t.Fatalf("bob's own jobs: %+v", p.Jobs)
		}
		// Contractors cannot post jobs.
		k := srv.Register(t, "CONTRACTOR")
		srv.Client(k.AccessToken).Do(t, create, map[string]any{"in": map[string]any{"title": "Nope", "description": "Not allowed here", "budget": 10}}).RequireError(t, "FORBIDDEN")
	})
}

// TestOfferSubscriptions: the contractor hears of an offer when it is sent
// and withdrawn; a stranger hears nothing.
func TestOfferSubscriptions(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		customer, contractor, stranger := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR"), srv.Register(t, "CONTRACTOR")
		srv.Fund(t, customer.ID, 50000)
		cc, kc := srv.Client(customer.AccessToken), srv.Client(contractor.AccessToken)

		sub := `subscription { offerStatusChanged { id status totalCharge } }`
		kws, err := srv.DialWebsocket(t, servertest.TransportWS, map[string]any{"Authorization": "Bearer " + contractor.AccessToken}, nil)
		if err != nil {
			t.Fatal(err)
		}
		kws.Subscribe(t, sub, nil)
		sws, err := srv.DialWebsocket(t, servertest.LegacyWS, map[string]any{"Authorization": "Bearer " + stranger.AccessToken}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sws.Subscribe(t, `subscription { offerStatusChanged { id status } }`, nil)
		kws.Query(t, `{ me { id } }`, nil)
		sws.Query(t, `{ me { id } }`, nil)

		var job struct{ CreateJob struct{ ID string } }
		cc.MustDo(t, `mutation { createJob(input: {title: "Paint a fence", description: "Ten metres of fence", budget: "200"}) { id } }`, nil, &job)
		var app struct{ ApplyToJob struct{ ID string } }
		kc.MustDo(t, `mutation($j: ID!) { applyToJob(input: {jobId: $j}) { id } }`, map[string]any{"j": job.CreateJob.ID}, &app)
		var sent struct {
			SendOffer struct{ Offer struct{ ID string } }
		}
		cc.MustDo(t, `mutation($a: ID!) { sendOffer(input: {applicationId: $a, amount: "200", timeline: "2 days", description: "Two coats, white"}) { offer { id } } }`,
			map[string]any{"a": app.ApplyToJob.ID}, &sent)
		next := func() (string, string) {
			_, r := kws.Next(t)
			var v struct {
				OfferStatusChanged struct{ ID, Status, TotalCharge string }
			}
			if err := json.Unmarshal(r.Data, &v); err != nil {
				t.Fatalf("%s: %v", r.Data, err)
			}
			return v.OfferStatusChanged.ID, v.OfferStatusChanged.Status
		}
		if id, st := next(); id != sent.SendOffer.Offer.ID || st != "PENDING" {
			t.Fatalf("sent: %s %s", id, st)
		}
		cc.MustDo(t, `mutation($o: ID!) { withdrawOffer(offerId: $o) { refundAmount } }`, map[string]any{"o": sent.SendOffer.Offer.ID}, nil)
		if id, st := next(); id != sent.SendOffer.Offer.ID || st != "WITHDRAWN" {
			t.Fatalf("withdrawn: %s %s", id, st)
		}

		// The stranger's first message is the answer to a later query on the
		// same socket: nothing of the offer reached them before it.
		sws.Subscribe(t, `query { me { id } }`, nil)
		if _, r := sws.Next(t); !strings.Contains(string(r.Data), stranger.ID) {
			t.Fatalf("stranger received: %s", r.Data)
		}
		srv.RequireLedgerVerified(t)
	})
}

// TestPayloadsLoadTheirEdges: objects a mutation made in its transaction
// load their edges after it committed (offer { job }, user { reviews }).
func TestPayloadsLoadTheirEdges(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		var reg struct {
			Register struct {
				User struct {
					Reviews struct{ TotalCount int }
				}
			}
		}
		srv.Client("").MustDo(t, `mutation { register(input: {email: "edges@example.test", password: "Passw0rd1", name: "Ed Ges", role: CONTRACTOR}) {
			user { reviews(first: 1) { totalCount } rating { count } } } }`, nil, &reg)
		customer, contractor := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR")
		srv.Fund(t, customer.ID, 20000)
		cc := srv.Client(customer.AccessToken)
		var job struct{ CreateJob struct{ ID string } }
		cc.MustDo(t, `mutation { createJob(input: {title: "Fit a shelf", description: "One shelf in the hall", budget: "100"}) { id } }`, nil, &job)
		var app struct{ ApplyToJob struct{ ID string } }
		srv.Client(contractor.AccessToken).MustDo(t, `mutation($j: ID!) { applyToJob(input: {jobId: $j}) { id } }`, map[string]any{"j": job.CreateJob.ID}, &app)
		var sent struct {
			SendOffer struct {
				Offer struct {
					Job         struct{ ID, Title string }
					Application struct{ ID string }
				}
			}
		}
		cc.MustDo(t, `mutation($a: ID!) { sendOffer(input: {applicationId: $a, amount: "100", timeline: "1 day", description: "Fit and level the shelf"}) {
			offer { job { id title } application { id } } } }`, map[string]any{"a": app.ApplyToJob.ID}, &sent)
		if sent.SendOffer.Offer.Job.ID != job.CreateJob.ID || sent.SendOffer.Offer.Application.ID != app.ApplyToJob.ID {
			t.Fatalf("sendOffer payload: %+v", sent.SendOffer)
		}
		srv.RequireLedgerVerified(t)
	})
}
