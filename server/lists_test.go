package server_test

import (
	"encoding/json"
	"testing"

	"github.com/jobsphere/jobsphere/graph"
	"github.com/jobsphere/jobsphere/server/servertest"
)

// TestViewerOffersAndContracts: offers and contracts list the viewer's own,
// as customer or contractor; admins see all; status filters.
func TestViewerOffersAndContracts(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		alice, bob := srv.Register(t, "CUSTOMER"), srv.Register(t, "CUSTOMER")
		robin, stranger, admin := srv.Register(t, "CONTRACTOR"), srv.Register(t, "CONTRACTOR"), srv.Admin(t)
		kc := srv.Client(robin.AccessToken)
		offerTo := func(customer servertest.User) string {
			srv.Fund(t, customer.ID, 20000)
			cc := srv.Client(customer.AccessToken)
			var job struct{ CreateJob struct{ ID string } }
			cc.MustDo(t, `mutation { createJob(input: {title: "Hang a door", description: "One interior door, hinges supplied", budget: "100"}) { id } }`, nil, &job)
			var app struct{ ApplyToJob struct{ ID string } }
			kc.MustDo(t, `mutation($j: ID!) { applyToJob(input: {jobId: $j}) { id } }`, map[string]any{"j": job.CreateJob.ID}, &app)
			var sent struct {
				SendOffer struct{ Offer struct{ ID string } }
			}
			cc.MustDo(t, `mutation($a: ID!) { sendOffer(input: {applicationId: $a, amount: "100", timeline: "1 day", description: "Hang and adjust the door"}) { offer { id } } }`,
				map[string]any{"a": app.ApplyToJob.ID}, &sent)
			return sent.SendOffer.Offer.ID
		}
		aliceOffer, _ := offerTo(alice), offerTo(bob)
		kc.MustDo(t, `mutation($o: ID!) { acceptOffer(offerId: $o) { contract { id } } }`, map[string]any{"o": aliceOffer}, nil)

		count := func(u servertest.User, query string, status any) int {
			var out map[string]struct{ TotalCount int }
			srv.Client(u.AccessToken).MustDo(t, query, map[string]any{"s": status}, &out)
			for _, conn := range out {
				return conn.TotalCount
			}
			return -1
		}
		offers := `query($s: OfferStatus) { offers(status: $s, first: 10) { totalCount edges { node { id } } } }`
		contracts := `query($s: ContractStatus) { contracts(status: $s, first: 10) { totalCount edges { node { id escrow { status } } } } }`
		for _, c := range []struct {
			name  string
			who   servertest.User
			query string
			s     any
			want  int
		}{
			{"alice's offers", alice, offers, nil, 1},
			{"robin's offers", robin, offers, nil, 2},
			{"robin's pending offers", robin, offers, "PENDING", 1},
			{"a stranger's offers", stranger, offers, nil, 0},
			{"every offer (admin)", admin, offers, nil, 2},
			{"alice's contracts", alice, contracts, nil, 1},
			{"bob's contracts", bob, contracts, nil, 0},
			{"robin's active contracts", robin, contracts, "ACTIVE", 1},
			{"robin's completed contracts", robin, contracts, "COMPLETED", 0},
			{"a stranger's contracts", stranger, contracts, nil, 0},
			{"every contract (admin)", admin, contracts, nil, 1},
		} {
			if got := count(c.who, c.query, c.s); got != c.want {
				t.Errorf("%s: %d, want %d", c.name, got, c.want)
			}
		}
		srv.Client("").Do(t, offers, nil).RequireError(t, "UNAUTHENTICATED")
		srv.RequireLedgerVerified(t)
	})
}

// TestListsLoadEdgesWithThePage: what each node of a list asks for (its
// job, offer, contract, escrow, dispute, latest proposal, attachments,
// applications, a user's rating) is read with the page, in statements as
// many for a page of 20 as for a page of 2: no statement per node.
func TestListsLoadEdgesWithThePage(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		// The queries ask for every edge at once, deeper and costlier than
		// the defaults allow.
		env["GRAPHQL_MAX_COMPLEXITY"], env["GRAPHQL_MAX_DEPTH"] = "100000", "20"
		srv := servertest.Start(t, env)
		alice, robin, admin := srv.Register(t, "CUSTOMER"), srv.Register(t, "CONTRACTOR"), srv.Admin(t)
		cc, kc := srv.Client(alice.AccessToken), srv.Client(robin.AccessToken)
		upload := func(c *servertest.Client) string {
			t.Helper()
			var out struct{ UploadMedia struct{ ID string } }
			if err := json.Unmarshal(uploadGraphQL(t, c, "proof.png", pngBytes(t, 8)).Data, &out); err != nil || out.UploadMedia.ID == "" {
				t.Fatalf("upload: %v", err)
			}
			return out.UploadMedia.ID
		}
		// Three jobs, each with an application, an accepted offer, a
		// delivery with an attachment and a dispute with a message with an
		// attachment and a proposal: a page of 20 holds more of each than
		// a page of 2.
		const jobs = 3
		srv.Fund(t, alice.ID, jobs*20000)
		for range jobs {
			var job struct{ CreateJob struct{ ID string } }
			cc.MustDo(t, `mutation { createJob(input: {title: "Tile a floor", description: "Ten square metres of tiles", budget: "100"}) { id } }`, nil, &job)
			id := job.CreateJob.ID
			var app struct{ ApplyToJob struct{ ID string } }
			kc.MustDo(t, `mutation($j: ID!) { applyToJob(input: {jobId: $j}) { id } }`, map[string]any{"j": id}, &app)
			var sent struct {
				SendOffer struct{ Offer struct{ ID string } }
			}
			cc.MustDo(t, `mutation($a: ID!) { sendOffer(input: {applicationId: $a, amount: "100", timeline: "2 days", description: "Tile the kitchen floor"}) { offer { id } } }`,
				map[string]any{"a": app.ApplyToJob.ID}, &sent)
			var accepted struct {
				AcceptOffer struct{ Contract struct{ ID string } }
			}
			kc.MustDo(t, `mutation($o: ID!) { acceptOffer(offerId: $o) { contract { id } } }`, map[string]any{"o": sent.SendOffer.Offer.ID}, &accepted)
			kc.MustDo(t, `mutation($j: ID!) { updateJobStatus(id: $j, status: IN_PROGRESS) { id } }`, map[string]any{"j": id}, nil)
			kc.MustDo(t, `mutation($in: SubmitWorkInput!) { submitWork(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"jobId": id, "note": "Tiled", "mediaIds": []string{upload(kc)}}}, nil)
			var opened struct{ OpenDispute struct{ ID string } }
			cc.MustDo(t, `mutation($c: ID!) { openDispute(input: {contractId: $c, reason: QUALITY, description: "Uneven tiles"}) { id } }`,
				map[string]any{"c": accepted.AcceptOffer.Contract.ID}, &opened)
			cc.MustDo(t, `mutation($in: DisputeMessageInput!) { addDisputeMessage(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"disputeId": opened.OpenDispute.ID, "body": "See the photo", "mediaIds": []string{upload(cc)}}}, nil)
			kc.MustDo(t, `mutation($d: ID!) { proposeSettlement(input: {disputeId: $d, contractorAmount: "50"}) { id } }`,
				map[string]any{"d": opened.OpenDispute.ID}, nil)
		}

		contractFields := `id escrow { status } offer { id } dispute { id latestProposal { id }
			messages(first: 5) { edges { node { id attachments { id } } } } }
			customer { id rating { count } } contractor { id rating { count } }`
		jobFields := `id offer { id } contract { ` + contractFields + ` } delivery { attachments { id } }
			applications(first: 5) { totalCount edges { node { id contractor { id rating { count } } } } }
			postedBy { id rating { count } }`
		lists := []struct {
			name  string
			as    servertest.User
			query string
		}{
			{"transactions", alice, `query($n: Int) { transactions(first: $n) { edges { node { id
				job { ` + jobFields + ` } offer { id contractor { id rating { count } } } contract { ` + contractFields + ` }
				from { id rating { count } } to { id rating { count } } } } } }`},
			{"jobs", robin, `query($n: Int) { jobs(first: $n) { edges { node { ` + jobFields + ` } } } }`},
			{"offers", alice, `query($n: Int) { offers(first: $n) { edges { node { id job { ` + jobFields + ` } contractor { id rating { count } } } } } }`},
			{"contracts", robin, `query($n: Int) { contracts(first: $n) { edges { node { ` + contractFields + ` job { ` + jobFields + ` } } } } }`},
			{"disputes", admin, `query($n: Int) { disputes(first: $n) { edges { node { id latestProposal { id }
				messages(first: 5) { edges { node { id attachments { id } } } } contract { ` + contractFields + ` } } } } }`},
			{"users", admin, `query($n: Int) { users(first: $n) { edges { node { id rating { count } } } } }`},
		}
		for _, l := range lists {
			statements := map[int]float64{}
			for _, n := range []int{2, 20} {
				before := metricValue(t, scrape(t, srv), "jobsphere_db_statements_total", nil)
				var out map[string]struct {
					Edges []struct{ Node map[string]any }
				}
				srv.Client(l.as.AccessToken).MustDo(t, l.query, map[string]any{"n": n}, &out)
				statements[n] = metricValue(t, scrape(t, srv), "jobsphere_db_statements_total", nil) - before
				for _, conn := range out {
					if got := len(conn.Edges); (n == 2 && got != 2) || (n == 20 && got <= 2) {
						t.Errorf("%s(first: %d): %d nodes, want 2 in a page of 2 and more in a page of 20", l.name, n, got)
					}
				}
			}
			t.Logf("%s: %v statements for a page of 2, %v for a page of 20", l.name, statements[2], statements[20])
			if statements[2] != statements[20] {
				t.Errorf("%s: %v statements for a page of 2, %v for a page of 20: want as many", l.name, statements[2], statements[20])
			}
		}

		// What the page's reads answer: each job its own, nothing private
		// for a stranger.
		type seenJob struct {
			Offer    *struct{ ID string }
			Contract *struct {
				Escrow  struct{ Status string }
				Dispute *struct {
					LatestProposal *struct{ ContractorAmount string }
					Messages       struct {
						Edges []struct {
							Node struct{ Attachments []struct{ ID string } }
						}
					}
				}
			}
			Delivery     *struct{ Attachments []struct{ ID string } }
			Applications struct {
				TotalCount int
				Edges      []struct{ Node struct{ ID string } }
			}
		}
		view := func(u servertest.User) []seenJob {
			var out struct {
				Jobs struct{ Edges []struct{ Node seenJob } }
			}
			srv.Client(u.AccessToken).MustDo(t, `query { jobs(first: 20) { edges { node { offer { id }
				contract { escrow { status } dispute { latestProposal { contractorAmount } messages(first: 5) { edges { node { attachments { id } } } } } }
				delivery { attachments { id } } applications(first: 5) { totalCount edges { node { id } } } } } } }`, nil, &out)
			seen := make([]seenJob, len(out.Jobs.Edges))
			for i, e := range out.Jobs.Edges {
				seen[i] = e.Node
			}
			return seen
		}
		offers := map[string]bool{}
		for _, j := range view(robin) {
			if j.Offer == nil || j.Contract == nil || j.Contract.Escrow.Status != "DISPUTED" || j.Contract.Dispute == nil ||
				j.Contract.Dispute.LatestProposal == nil || j.Contract.Dispute.LatestProposal.ContractorAmount != "50.00" ||
				len(j.Contract.Dispute.Messages.Edges) != 1 || len(j.Contract.Dispute.Messages.Edges[0].Node.Attachments) != 1 ||
				j.Delivery == nil || len(j.Delivery.Attachments) != 1 || j.Applications.TotalCount != 1 || len(j.Applications.Edges) != 1 {
				t.Errorf("the contractor sees a job as %+v, want its offer, contract, dispute, delivery and application", j)
				continue
			}
			offers[j.Offer.ID] = true
		}
		if len(offers) != jobs {
			t.Errorf("%d distinct offers among %d jobs", len(offers), jobs)
		}
		for _, j := range view(srv.Register(t, "CONTRACTOR")) {
			if j.Offer != nil || j.Contract != nil || j.Delivery != nil || j.Applications.TotalCount != 0 {
				t.Errorf("a stranger sees a job as %+v, want nothing of its parties'", j)
			}
		}
	})
}

// TestConnectionsDefaultPage: a connection asked without first or last
// gives a page of DefaultPageSize, however it is asked (a null variable, in
// a fragment); a size out of range refuses the operation.
func TestConnectionsDefaultPage(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		admin := srv.Admin(t)
		for range graph.DefaultPageSize {
			srv.Register(t, "CUSTOMER")
		}
		ac := srv.Client(admin.AccessToken)
		var out map[string]struct {
			Edges []struct{ Node struct{ ID string } }
		}
		ac.MustDo(t, `query($n: Int) { plain: users { edges { node { id } } } nulled: users(first: $n) { edges { node { id } } }
			...inFragment admin: users(search: "admin") { edges { node { id } } } }
			fragment inFragment on Query { fragment: users { edges { node { id } } } }`, map[string]any{"n": nil}, &out)
		for alias, want := range map[string]int{"plain": graph.DefaultPageSize, "nulled": graph.DefaultPageSize, "fragment": graph.DefaultPageSize, "admin": 1} {
			if got := len(out[alias].Edges); got != want {
				t.Errorf("%s: %d users, want %d", alias, got, want)
			}
		}
		ac.Do(t, `query($n: Int) { users(first: $n) { totalCount } }`, map[string]any{"n": graph.MaxPageSize + 1}).RequireError(t, "BAD_USER_INPUT")
	})
}
