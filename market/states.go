package market

import (
	"context"
	"fmt"
	"slices"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/dispute"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/jobapplication"
	"github.com/jobsphere/jobsphere/ent/offer"
	"github.com/jobsphere/jobsphere/ent/predicate"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// The marketplace's state machines. Every status change of a job, an
// application, an offer, a contract or an escrow goes through its move
// function below: a conditional update on the statuses its table allows
// the move from, so the database itself refuses any other move, and of
// two racing moves exactly one wins. A contract and its job never move on
// their own: they follow their escrow (settleEscrow).

var jobMoves = jobsphere.Transitions[job.Status]{Name: "Job", Moves: map[job.Status][]job.Status{
	job.StatusOPEN:        {job.StatusASSIGNED, job.StatusCANCELLED},
	job.StatusASSIGNED:    {job.StatusIN_PROGRESS, job.StatusCOMPLETED, job.StatusCANCELLED},
	job.StatusIN_PROGRESS: {job.StatusCOMPLETED, job.StatusCANCELLED},
}}

var applicationMoves = jobsphere.Transitions[jobapplication.Status]{Name: "Application", Moves: map[jobapplication.Status][]jobapplication.Status{
	jobapplication.StatusPENDING: {jobapplication.StatusOFFERED, jobapplication.StatusREJECTED},
	// Back to PENDING when its offer ends without an accept.
	jobapplication.StatusOFFERED: {jobapplication.StatusPENDING, jobapplication.StatusACCEPTED, jobapplication.StatusREJECTED},
}}

var offerMoves = jobsphere.Transitions[offer.Status]{Name: "Offer", Moves: map[offer.Status][]offer.Status{
	offer.StatusPENDING: {offer.StatusACCEPTED, offer.StatusREJECTED, offer.StatusEXPIRED, offer.StatusWITHDRAWN},
}}

var contractMoves = jobsphere.Transitions[contract.Status]{Name: "Contract", Moves: map[contract.Status][]contract.Status{
	contract.StatusACTIVE: {contract.StatusCOMPLETED, contract.StatusCANCELLED},
}}

// A DISPUTED escrow moves only as its dispute ends (moveDisputedEscrow):
// all to the contractor, all back, a split, or — withdrawn — back to the
// status it had.
var escrowMoves = jobsphere.Transitions[escrow.Status]{Name: "Escrow", Moves: map[escrow.Status][]escrow.Status{
	escrow.StatusFUNDED:            {escrow.StatusRELEASE_REQUESTED, escrow.StatusREFUNDED, escrow.StatusDISPUTED},
	escrow.StatusRELEASE_REQUESTED: {escrow.StatusRELEASED, escrow.StatusREFUNDED, escrow.StatusDISPUTED},
	escrow.StatusDISPUTED: {escrow.StatusRELEASED, escrow.StatusREFUNDED, escrow.StatusSETTLED,
		escrow.StatusFUNDED, escrow.StatusRELEASE_REQUESTED},
}}

var disputeMoves = jobsphere.Transitions[dispute.Status]{Name: "Dispute", Moves: map[dispute.Status][]dispute.Status{
	dispute.StatusOPEN: {dispute.StatusSETTLED, dispute.StatusWITHDRAWN},
}}

// moveJob moves a job to status to; set adds the fields that go with the
// move (and any guard of the caller's). explain turns the status a refused
// job is in into the refusal (nil: "Job is X").
func moveJob(ctx context.Context, tx *ent.Tx, id pulid.ID, to job.Status, set func(*ent.JobUpdate), explain func(job.Status) error) error {
	return moveJobInto(ctx, tx, id, to, set, explain, nil)
}

// moveJobInto is moveJob that also reads the job as moved into *moved
// (saveReading: on PostgreSQL in the move's own statement).
func moveJobInto(ctx context.Context, tx *ent.Tx, id pulid.ID, to job.Status, set func(*ent.JobUpdate), explain func(job.Status) error, moved **ent.Job) error {
	return move(ctx, jobMoves, to,
		func(from []job.Status) (int, error) {
			u := tx.Job.Update().Where(job.ID(id), job.StatusIn(from...)).SetStatus(to)
			if set != nil {
				set(u)
			}
			if moved == nil {
				return save(ctx, u, false)
			}
			n, err := saveReading(ctx, u, moved, job.Columns, func(with func(*entsql.Selector)) ([]*ent.Job, error) {
				return tx.Job.Query().Where(job.ID(id)).Modify(with).All(ctx)
			})
			if err != nil {
				return 0, fmt.Errorf("move job %s to %s: %w", id, to, err)
			}
			return n, nil
		},
		func() (job.Status, error) {
			j, err := tx.Job.Get(ctx, id)
			if ent.IsNotFound(err) {
				return "", notFound("Job")
			}
			if err != nil {
				return "", fmt.Errorf("read job %s: %w", id, err)
			}
			return j.Status, nil
		},
		explain)
}

// moveApplications moves every application matching where (and in a
// status the table allows the move from) to status to, and returns how
// many moved (inside moveTogether, on PostgreSQL, 0: save).
func moveApplications(ctx context.Context, tx *ent.Tx, to jobapplication.Status, where ...predicate.JobApplication) (int, error) {
	return moveApplicationRows(ctx, tx, to, true, where...)
}

// moveApplicationRows is moveApplications, for optional moves (that may
// move none) and moveApplication's one.
func moveApplicationRows(ctx context.Context, tx *ent.Tx, to jobapplication.Status, optional bool, where ...predicate.JobApplication) (int, error) {
	u := tx.JobApplication.Update().Where(where...).
		Where(jobapplication.StatusIn(applicationMoves.From(to)...)).SetStatus(to)
	n, err := save(ctx, u, optional)
	if err != nil {
		return 0, fmt.Errorf("move applications to %s: %w", to, err)
	}
	return n, nil
}

// moveApplication moves one application to status to, or refuses naming
// the status it is in.
func moveApplication(ctx context.Context, tx *ent.Tx, id pulid.ID, to jobapplication.Status) error {
	return move(ctx, applicationMoves, to,
		func([]jobapplication.Status) (int, error) {
			return moveApplicationRows(ctx, tx, to, false, jobapplication.ID(id))
		},
		func() (jobapplication.Status, error) {
			a, err := tx.JobApplication.Get(ctx, id)
			if err != nil {
				return "", fmt.Errorf("read application %s: %w", id, err)
			}
			return a.Status, nil
		}, nil)
}

// moveOffer moves an offer to status to, or refuses naming the status it
// is in ("Offer is WITHDRAWN": a job checkout withdraws pending offers).
func moveOffer(ctx context.Context, tx *ent.Tx, id pulid.ID, to offer.Status, set func(*ent.OfferUpdate)) error {
	return move(ctx, offerMoves, to,
		func(from []offer.Status) (int, error) {
			u := tx.Offer.Update().Where(offer.ID(id), offer.StatusIn(from...)).SetStatus(to)
			if set != nil {
				set(u)
			}
			n, err := save(ctx, u, false)
			if err != nil {
				return 0, fmt.Errorf("move offer %s to %s: %w", id, to, err)
			}
			return n, nil
		},
		func() (offer.Status, error) {
			o, err := tx.Offer.Get(ctx, id)
			if err != nil {
				return "", fmt.Errorf("read offer %s: %w", id, err)
			}
			return o.Status, nil
		}, nil)
}

// moveContract moves a contract to status to; only settleEscrow does, as
// its escrow moves.
func moveContract(ctx context.Context, tx *ent.Tx, id pulid.ID, to contract.Status, set func(*ent.ContractUpdate)) error {
	return move(ctx, contractMoves, to,
		func(from []contract.Status) (int, error) {
			u := tx.Contract.Update().Where(contract.ID(id), contract.StatusIn(from...)).SetStatus(to)
			if set != nil {
				set(u)
			}
			n, err := save(ctx, u, false)
			if err != nil {
				return 0, fmt.Errorf("move contract %s to %s: %w", id, to, err)
			}
			return n, nil
		},
		func() (contract.Status, error) {
			c, err := tx.Contract.Get(ctx, id)
			if err != nil {
				return "", fmt.Errorf("read contract %s: %w", id, err)
			}
			return c.Status, nil
		}, nil)
}

// moveEscrow moves a contract's escrow to status to, never out of
// DISPUTED; set adds the fields that go with the move and the caller's
// guards. A refusal in a status the table allows was the guard's, or the
// dispute's: a refund to the card in progress, or "Escrow is DISPUTED".
func (s *Service) moveEscrow(ctx context.Context, tx *ent.Tx, contractID pulid.ID, to escrow.Status, set func(*ent.EscrowUpdate)) error {
	return s.moveEscrowFrom(ctx, tx, contractID, to, false, set)
}

// moveDisputedEscrow moves a DISPUTED escrow to status to, as its dispute
// ends.
func (s *Service) moveDisputedEscrow(ctx context.Context, tx *ent.Tx, contractID pulid.ID, to escrow.Status, set func(*ent.EscrowUpdate)) error {
	return s.moveEscrowFrom(ctx, tx, contractID, to, true, set)
}

// moveEscrowFrom is the escrow's one move: from DISPUTED only when
// disputed.
func (s *Service) moveEscrowFrom(ctx context.Context, tx *ent.Tx, contractID pulid.ID, to escrow.Status, disputed bool, set func(*ent.EscrowUpdate)) error {
	return move(ctx, escrowMoves, to,
		func(from []escrow.Status) (int, error) {
			from = slices.DeleteFunc(slices.Clone(from), func(st escrow.Status) bool { return (st == escrow.StatusDISPUTED) != disputed })
			u := tx.Escrow.Update().Where(escrow.ContractID(contractID), escrow.StatusIn(from...)).SetStatus(to)
			if set != nil {
				set(u)
			}
			n, err := save(ctx, u, false)
			if err != nil {
				return 0, fmt.Errorf("move escrow of %s to %s: %w", contractID, to, err)
			}
			return n, nil
		},
		func() (escrow.Status, error) {
			e, err := tx.Escrow.Query().Where(escrow.ContractID(contractID)).Only(ctx)
			if err != nil {
				return "", fmt.Errorf("read escrow of %s: %w", contractID, err)
			}
			return e.Status, nil
		},
		func(escrow.Status) error { return s.escrowConflict(ctx, tx, contractID) })
}

// moveDispute moves an OPEN dispute to status to; set adds the fields and
// the caller's guards. A refusal of a dispute still OPEN was a guard's:
// guarded explains it.
func moveDispute(ctx context.Context, tx *ent.Tx, id pulid.ID, to dispute.Status, set func(*ent.DisputeUpdate), guarded func(*ent.Dispute) error) error {
	return disputeMoves.Move(to,
		func(from []dispute.Status) (int, error) {
			u := tx.Dispute.Update().Where(dispute.ID(id), dispute.StatusIn(from...)).SetStatus(to)
			if set != nil {
				set(u)
			}
			n, err := u.Save(ctx)
			if err != nil {
				return 0, fmt.Errorf("move dispute %s to %s: %w", id, to, err)
			}
			return n, nil
		},
		func() (dispute.Status, error) {
			d, err := tx.Dispute.Get(ctx, id)
			if err != nil {
				return "", fmt.Errorf("read dispute %s: %w", id, err)
			}
			return d.Status, nil
		},
		func(dispute.Status) error {
			d, err := tx.Dispute.Get(ctx, id)
			if err != nil {
				return fmt.Errorf("read dispute %s: %w", id, err)
			}
			return guarded(d)
		})
}
