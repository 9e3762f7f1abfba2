package market_test

import (
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
)

// TestVerifyChecksJobStates: a ledger that balances can still hide money
// in the wrong place — a cancelled job whose escrow is held, a completed
// job whose escrow was never released, an offer hold on a job that is no
// longer open. Verify reports each one.
func TestVerifyChecksJobStates(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		cust, con := f.customer(t, 2*charge), f.contractor(t)
		assigned := f.createJob(t, cust)
		f.accept(t, con, f.sendOffer(t, cust, f.apply(t, con, assigned.ID).ID, hundred).Offer.ID)
		offered := f.createJob(t, cust)
		f.sendOffer(t, cust, f.apply(t, con, offered.ID).ID, hundred)
		f.verify(t)

		client := f.client
		// What the race between acceptOffer and cancelJob left behind.
		client.Job.UpdateOneID(assigned.ID).SetStatus(job.StatusCANCELLED).ExecX(f.ctx)
		client.Job.UpdateOneID(offered.ID).SetStatus(job.StatusCOMPLETED).ExecX(f.ctx)
		requireProblems(t, f, []string{
			"job " + string(assigned.ID) + " is CANCELLED but its contract is ACTIVE and its escrow FUNDED",
			"job " + string(offered.ID) + " is COMPLETED but its contract is none and its escrow none",
			"is PENDING (its hold still held) but its job " + string(offered.ID) + " is COMPLETED",
		})

		client.Job.UpdateOneID(assigned.ID).SetStatus(job.StatusCOMPLETED).ExecX(f.ctx)
		client.Job.UpdateOneID(offered.ID).SetStatus(job.StatusOPEN).ExecX(f.ctx)
		requireProblems(t, f, []string{"job " + string(assigned.ID) + " is COMPLETED but its contract is ACTIVE and its escrow FUNDED"})

		client.Job.UpdateOneID(assigned.ID).SetStatus(job.StatusASSIGNED).ExecX(f.ctx)
		f.verify(t)
		client.Escrow.Update().Where(escrow.StatusEQ(escrow.StatusFUNDED)).SetStatus(escrow.StatusRELEASED).ExecX(f.ctx)
		requireProblems(t, f, []string{"job " + string(assigned.ID) + " is ASSIGNED but its contract is ACTIVE and its escrow RELEASED"})
	})
}

// requireProblems checks Verify reports exactly the problems want (each a
// part of one problem's text).
func requireProblems(t *testing.T, f *fixture, want []string) {
	t.Helper()
	r, err := f.ledger.Verify(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != len(want) {
		t.Errorf("problems %q, want %d: %q", r.Problems, len(want), want)
	}
	for _, w := range want {
		found := false
		for _, p := range r.Problems {
			found = found || strings.Contains(p, w)
		}
		if !found {
			t.Errorf("no problem says %q; got %q", w, r.Problems)
		}
	}
}
