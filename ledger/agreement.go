package ledger

import (
	"context"
	"fmt"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/offer"
)

// A ledger can balance while the marketplace's states disagree about
// where money stands: a cancelled job whose escrow is still held balances
// exactly, and the escrow can then be paid out. So Verify also checks that
// every job's status agrees with its contract, escrow and offers.

// stage is a job's contract and escrow status ("" when it has none).
type stage struct {
	contract contract.Status
	escrow   escrow.Status
}

// held are the stages of a job under way: its escrow held, or disputed.
var held = []stage{
	{contract.StatusACTIVE, escrow.StatusFUNDED}, {contract.StatusACTIVE, escrow.StatusRELEASE_REQUESTED},
	{contract.StatusACTIVE, escrow.StatusDISPUTED},
}

// agreeing lists, for each job status, the contract and escrow statuses
// it may have.
var agreeing = map[job.Status][]stage{
	job.StatusOPEN:        {{}},
	job.StatusASSIGNED:    held,
	job.StatusIN_PROGRESS: held,
	// SETTLED: a dispute split the escrow between the parties.
	job.StatusCOMPLETED: {{contract.StatusCOMPLETED, escrow.StatusRELEASED}, {contract.StatusCOMPLETED, escrow.StatusSETTLED}},
	job.StatusCANCELLED: {{}, {contract.StatusCANCELLED, escrow.StatusREFUNDED}},
}

// verifyStates adds a problem for every job whose contract or escrow is
// not in a stage its status allows, and for every pending offer (money
// held for it) on a job that is no longer open.
func (l *Ledger) verifyStates(ctx context.Context, r *Report) error {
	jobs, err := l.client.Job.Query().
		Select(job.FieldID, job.FieldStatus).
		WithContract(func(q *ent.ContractQuery) {
			q.Select(contract.FieldID, contract.FieldStatus, contract.FieldJobID).WithEscrow(func(q *ent.EscrowQuery) {
				q.Select(escrow.FieldID, escrow.FieldStatus, escrow.FieldContractID)
			})
		}).
		WithOffers(func(q *ent.OfferQuery) {
			q.Where(offer.StatusEQ(offer.StatusPENDING)).Select(offer.FieldID, offer.FieldJobID)
		}).All(ctx)
	if err != nil {
		return fmt.Errorf("read jobs, contracts and escrows: %w", err)
	}
	for _, j := range jobs {
		var got stage
		if c := j.Edges.Contract; c != nil {
			got.contract = c.Status
			if e := c.Edges.Escrow; e != nil {
				got.escrow = e.Status
			}
		}
		if !agrees(j.Status, got) {
			r.problem("job %s is %s but its contract is %s and its escrow %s", j.ID, j.Status, orNone(got.contract), orNone(got.escrow))
		}
		if j.Status != job.StatusOPEN {
			for _, o := range j.Edges.Offers {
				r.problem("offer %s is PENDING (its hold still held) but its job %s is %s", o.ID, j.ID, j.Status)
			}
		}
	}
	return nil
}

func agrees(s job.Status, got stage) bool {
	for _, ok := range agreeing[s] {
		if ok == got {
			return true
		}
	}
	return false
}

func orNone[S ~string](s S) string {
	if s == "" {
		return "none"
	}
	return string(s)
}
