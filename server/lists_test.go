package server_test

import (
	"testing"

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
