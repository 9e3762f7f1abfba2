package market

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/dispute"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/jobapplication"
	"github.com/jobsphere/jobsphere/ent/offer"
	"github.com/jobsphere/jobsphere/ent/schema"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// TestTransitionTables: for every aggregate of the marketplace, every
// (from, to) pair of statuses is tried on a row really in from. A pair in
// the table moves the row; any other is refused by the database update
// itself (the move function checks nothing before it), with CONFLICT, and
// leaves the row as it was.
func TestTransitionTables(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		ctx := context.Background()
		w := &tableWorld{t: t, ctx: ctx, client: dbtest.Open(t, db)}
		w.customer, w.contractor = w.user(role.Customer), w.user(role.Contractor)
		s := &Service{client: w.client}

		dbtest.CheckTransitions(t, w.client, jobMoves, dbtest.Statuses[job.Status](t, schema.Job{}.Fields()),
			func(from job.Status) pulid.ID { return w.job(from) },
			func(tx *ent.Tx, id pulid.ID, to job.Status) error { return moveJob(ctx, tx, id, to, nil, nil) },
			func(id pulid.ID) job.Status { return w.client.Job.GetX(ctx, id).Status })
		dbtest.CheckTransitions(t, w.client, applicationMoves, dbtest.Statuses[jobapplication.Status](t, schema.JobApplication{}.Fields()),
			func(from jobapplication.Status) pulid.ID { return w.application(from) },
			func(tx *ent.Tx, id pulid.ID, to jobapplication.Status) error { return moveApplication(ctx, tx, id, to) },
			func(id pulid.ID) jobapplication.Status { return w.client.JobApplication.GetX(ctx, id).Status })
		dbtest.CheckTransitions(t, w.client, offerMoves, dbtest.Statuses[offer.Status](t, schema.Offer{}.Fields()),
			func(from offer.Status) pulid.ID { return w.offer(from) },
			func(tx *ent.Tx, id pulid.ID, to offer.Status) error { return moveOffer(ctx, tx, id, to, nil) },
			func(id pulid.ID) offer.Status { return w.client.Offer.GetX(ctx, id).Status })
		dbtest.CheckTransitions(t, w.client, contractMoves, dbtest.Statuses[contract.Status](t, schema.Contract{}.Fields()),
			func(from contract.Status) pulid.ID { return w.contract(from, escrow.StatusFUNDED) },
			func(tx *ent.Tx, id pulid.ID, to contract.Status) error { return moveContract(ctx, tx, id, to, nil) },
			func(id pulid.ID) contract.Status { return w.client.Contract.GetX(ctx, id).Status })
		// Escrows are moved by their contract's id; a DISPUTED one only by
		// its dispute's end (moveDisputedEscrow), which moves nothing else.
		escrowOf := func(id pulid.ID) escrow.Status {
			return w.client.Escrow.Query().Where(escrow.ContractID(id)).OnlyX(ctx).Status
		}
		dbtest.CheckTransitions(t, w.client, escrowMoves, dbtest.Statuses[escrow.Status](t, schema.Escrow{}.Fields()),
			func(from escrow.Status) pulid.ID { return w.contract(contract.StatusACTIVE, from) },
			func(tx *ent.Tx, id pulid.ID, to escrow.Status) error {
				if escrowOf(id) == escrow.StatusDISPUTED {
					return s.moveDisputedEscrow(ctx, tx, id, to, nil)
				}
				return s.moveEscrow(ctx, tx, id, to, nil)
			},
			escrowOf)
		dbtest.CheckTransitions(t, w.client, disputeMoves, dbtest.Statuses[dispute.Status](t, schema.Dispute{}.Fields()),
			func(from dispute.Status) pulid.ID { return w.dispute(from) },
			func(tx *ent.Tx, id pulid.ID, to dispute.Status) error {
				return moveDispute(ctx, tx, id, to, nil, func(*ent.Dispute) error { return nil })
			},
			func(id pulid.ID) dispute.Status { return w.client.Dispute.GetX(ctx, id).Status })
	})
}

// tableWorld makes rows in a given status directly, as no move could.
type tableWorld struct {
	t                    *testing.T
	ctx                  context.Context
	client               *ent.Client
	customer, contractor pulid.ID
	n                    int
}

func (w *tableWorld) user(r role.Role) pulid.ID {
	w.n++
	return w.client.User.Create().SetEmail(fmt.Sprintf("u%d@tables.test", w.n)).SetPasswordHash("x").
		SetName("Table tester").SetRole(r).SaveX(w.ctx).ID
}

func (w *tableWorld) job(st job.Status) pulid.ID {
	return w.client.Job.Create().SetTitle("Paint the fence").SetDescription("Two coats, white").SetBudget(10000).
		SetPostedByID(w.customer).SetStatus(st).SaveX(w.ctx).ID
}

func (w *tableWorld) application(st jobapplication.Status) pulid.ID {
	return w.client.JobApplication.Create().SetJobID(w.job(job.StatusOPEN)).SetContractorID(w.contractor).
		SetStatus(st).SaveX(w.ctx).ID
}

func (w *tableWorld) offer(st offer.Status) pulid.ID {
	return w.client.Offer.Create().SetJobID(w.job(job.StatusOPEN)).SetCustomerID(w.customer).SetContractorID(w.contractor).
		SetAmount(10000).SetPlatformFee(500).SetServiceFee(2000).SetContractorPayout(8000).SetTotalCharge(10500).
		SetCustomerFeeBps(500).SetContractorFeeBps(2000).SetTimeline("7 days").SetDescription("Two coats").
		SetExpiresAt(w.client.Job.GetX(w.ctx, w.job(job.StatusOPEN)).CreatedAt).SetStatus(st).SaveX(w.ctx).ID
}

// contract makes a contract in status cs whose escrow is in es.
func (w *tableWorld) contract(cs contract.Status, es escrow.Status) pulid.ID {
	c := w.client.Contract.Create().SetJobID(w.job(job.StatusASSIGNED)).SetCustomerID(w.customer).
		SetContractorID(w.contractor).SetStatus(cs).SaveX(w.ctx)
	w.client.Escrow.Create().SetContractID(c.ID).SetAmount(10000).SetPlatformFee(500).SetServiceFee(2000).
		SetFreelancerEarning(8000).SetFundingSource(escrow.FundingSourceWALLET).SetStatus(es).ExecX(w.ctx)
	return c.ID
}

// dispute makes a dispute in status st of a DISPUTED escrow's contract.
func (w *tableWorld) dispute(st dispute.Status) pulid.ID {
	c := w.contract(contract.StatusACTIVE, escrow.StatusDISPUTED)
	return w.client.Dispute.Create().SetContractID(c).SetOpenedByID(w.customer).SetReason(dispute.ReasonQUALITY).
		SetDescription("Streaky paint").SetEscrowStatusBefore(dispute.EscrowStatusBeforeFUNDED).
		SetRespondBy(w.client.Contract.GetX(w.ctx, c).CreatedAt).SetStatus(st).SaveX(w.ctx).ID
}

// TestStateMachinesDocumented: docs/state-machines.md shows each table as
// the code has it.
func TestStateMachinesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/state-machines.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{jobMoves.DocumentedIn(string(doc)), applicationMoves.DocumentedIn(string(doc)),
		offerMoves.DocumentedIn(string(doc)), escrowMoves.DocumentedIn(string(doc)), contractMoves.DocumentedIn(string(doc)),
		disputeMoves.DocumentedIn(string(doc))} {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestMovesTogether: moves made together (one statement on PostgreSQL)
// behave as the same moves one after another: a refused move is the
// error, named as alone, with the moves before it made and none after it;
// an optional move that moves nothing refuses nothing; the first move
// reads the row it moved.
func TestMovesTogether(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		ctx := context.Background()
		w := &tableWorld{t: t, ctx: ctx, client: dbtest.Open(t, db)}
		w.customer, w.contractor = w.user(role.Customer), w.user(role.Contractor)
		status := func(tx *ent.Tx, id pulid.ID) job.Status { return tx.Job.GetX(ctx, id).Status }
		inTx := func(fn func(tx *ent.Tx)) {
			t.Helper()
			tx, err := w.client.Tx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			fn(tx)
		}

		for _, readFirst := range []bool{false, true} {
			first, refused, after := w.job(job.StatusOPEN), w.job(job.StatusCOMPLETED), w.job(job.StatusOPEN)
			inTx(func(tx *ent.Tx) {
				var moved *ent.Job
				err := moveTogether(ctx, tx, func(ctx context.Context) error {
					var into **ent.Job
					if readFirst {
						into = &moved
					}
					if err := moveJobInto(ctx, tx, first, job.StatusASSIGNED, nil, nil, into); err != nil {
						return err
					}
					if err := moveJob(ctx, tx, refused, job.StatusCANCELLED, nil, nil); err != nil {
						return err
					}
					return moveJob(ctx, tx, after, job.StatusCANCELLED, nil, nil)
				})
				if err == nil || err.Error() != "CONFLICT: Job is COMPLETED" {
					t.Errorf("read first %v: moves with a refused one: %v, want Job is COMPLETED", readFirst, err)
				}
				if got := status(tx, first); got != job.StatusASSIGNED {
					t.Errorf("read first %v: the move before the refused one: %s, want ASSIGNED", readFirst, got)
				}
				if got := status(tx, after); got != job.StatusOPEN {
					t.Errorf("read first %v: the move after the refused one: %s, want OPEN (not made)", readFirst, got)
				}
				if readFirst && (moved == nil || moved.ID != first || moved.Status != job.StatusASSIGNED) {
					t.Errorf("the first move's row: %+v, want job %s ASSIGNED", moved, first)
				}
			})
		}

		first, after := w.job(job.StatusCOMPLETED), w.job(job.StatusOPEN)
		inTx(func(tx *ent.Tx) {
			var moved *ent.Job
			err := moveTogether(ctx, tx, func(ctx context.Context) error {
				if err := moveJobInto(ctx, tx, first, job.StatusASSIGNED, nil, nil, &moved); err != nil {
					return err
				}
				return moveJob(ctx, tx, after, job.StatusCANCELLED, nil, nil)
			})
			if err == nil || err.Error() != "CONFLICT: Job is COMPLETED" || moved != nil {
				t.Errorf("first move refused: %v, row %+v; want Job is COMPLETED and no row", err, moved)
			}
			if got := status(tx, after); got != job.StatusOPEN {
				t.Errorf("the move after the refused first: %s, want OPEN (not made)", got)
			}
		})

		moves, other := w.job(job.StatusOPEN), w.job(job.StatusOPEN)
		inTx(func(tx *ent.Tx) {
			var moved *ent.Job
			err := moveTogether(ctx, tx, func(ctx context.Context) error {
				if err := moveJobInto(ctx, tx, moves, job.StatusASSIGNED, nil, nil, &moved); err != nil {
					return err
				}
				if _, err := moveApplications(ctx, tx, jobapplication.StatusREJECTED, jobapplication.JobID(moves)); err != nil {
					return err // an optional move: the job has no applications
				}
				return moveJob(ctx, tx, other, job.StatusCANCELLED, nil, nil)
			})
			if err != nil {
				t.Fatalf("moves with an optional one that moves nothing: %v", err)
			}
			if moved == nil || moved.ID != moves || moved.Status != job.StatusASSIGNED {
				t.Errorf("the first move's row: %+v, want job %s ASSIGNED", moved, moves)
			}
			if got := status(tx, other); got != job.StatusCANCELLED {
				t.Errorf("the move after the optional one: %s, want CANCELLED", got)
			}
		})
	})
}
