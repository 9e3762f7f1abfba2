package market_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/audit"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/auditentry"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/dispute"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/market"
)

// Disputes between the parties of the $100 job: $105.00 paid, the $5.00
// platform fee taken at acceptance, $100.00 held in escrow.

const responseDays = 5

// disputeCase is a $100 job under way whose customer paid exactly its
// $105.00, with the contract about to be disputed.
type disputeCase struct {
	*deliveryFixture
	cust, con, admin actor
	job              *ent.Job
	contract         *ent.Contract
}

func newDisputeCase(t *testing.T, db dbtest.Database) *disputeCase {
	t.Helper()
	f := newDeliveryFixture(t, db, true)
	dc := &disputeCase{deliveryFixture: f, cust: f.customer(t, charge), con: f.contractor(t), admin: f.admin(t)}
	dc.job = f.inProgress(t, dc.cust, dc.con)
	dc.contract = f.contractOf(t, dc.job.ID)
	return dc
}

func (dc *disputeCase) open(t *testing.T, by actor) *ent.Dispute {
	t.Helper()
	d, err := dc.m.OpenDispute(dc.ctx, by.V, market.OpenDisputeInput{ContractID: dc.contract.ID,
		Reason: dispute.ReasonQUALITY, Description: "The sink still leaks."})
	if err != nil {
		t.Fatalf("openDispute: %v", err)
	}
	if d.Status != dispute.StatusOPEN || d.OpenedByID != by.ID {
		t.Fatalf("opened dispute: %+v", d)
	}
	dc.requireContract(t, dc.job.ID, contract.StatusACTIVE, escrow.StatusDISPUTED)
	dc.verify(t)
	return d
}

// requireSettled checks the dispute's end and the money: the contractor's
// and customer's available balances and the platform's revenue.
func (dc *disputeCase) requireSettled(t *testing.T, settled *ent.Dispute, by dispute.SettledBy, share int64,
	js job.Status, es escrow.Status, contractor, customer, revenue int64) {
	t.Helper()
	d, err := dc.client.Dispute.Get(dc.ctx, settled.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != dispute.StatusSETTLED || d.SettledBy == nil || *d.SettledBy != by ||
		d.ContractorAmount == nil || *d.ContractorAmount != share || d.SettledAt == nil || d.OpenContractID != nil {
		t.Errorf("settled dispute: %+v, want SETTLED by %s with %d", d, by, share)
	}
	dc.requireJob(t, dc.job.ID, js)
	cs := contract.StatusCOMPLETED
	if js == job.StatusCANCELLED {
		cs = contract.StatusCANCELLED
	}
	dc.requireContract(t, dc.job.ID, cs, es)
	dc.requireWallet(t, dc.con, contractor, 0)
	dc.requireWallet(t, dc.cust, customer, 0)
	dc.requireRevenue(t, revenue)
}

func (dc *disputeCase) requireOpenDisputes(t *testing.T, want int) {
	t.Helper()
	stats, err := dc.ledger.Stats(dc.ctx)
	if err != nil || stats.OpenDisputes != want {
		t.Errorf("platformStats openDisputes: %+v, %v; want %d", stats, err, want)
	}
}

// TestDisputeOutcomes: the four ends of the acceptance, on both
// databases, the ledger verified after each.
func TestDisputeOutcomes(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		t.Run("contractor opens, customer silent: full release by default", func(t *testing.T) {
			dc := newDisputeCase(t, db)
			d := dc.open(t, dc.con)
			if want := dc.clock.now().AddDate(0, 0, responseDays); !d.RespondBy.Equal(want) {
				t.Errorf("respondBy %v, want %v", d.RespondBy, want)
			}
			dc.clock.set(d.RespondBy.Add(-time.Minute))
			if n, err := dc.m.SettleUnanswered(dc.ctx); n != 0 || err != nil {
				t.Fatalf("sweep before respondBy: %d, %v", n, err)
			}
			dc.clock.set(d.RespondBy)
			if n, err := dc.m.SettleUnanswered(dc.ctx); n != 1 || err != nil {
				t.Fatalf("sweep at respondBy: %d, %v", n, err)
			}
			dc.requireSettled(t, d, dispute.SettledByDEFAULT, hundred, job.StatusCOMPLETED, escrow.StatusRELEASED,
				8000, 0, platformFee+serviceFee)
			if n, err := dc.m.SettleUnanswered(dc.ctx); n != 0 || err != nil {
				t.Fatalf("second sweep: %d, %v", n, err)
			}
		})

		t.Run("customer opens, contractor proposes $60, customer accepts", func(t *testing.T) {
			dc := newDisputeCase(t, db)
			d := dc.open(t, dc.cust)
			// The customer's own proposal cannot be accepted by the customer.
			if _, err := dc.m.ProposeSettlement(dc.ctx, dc.cust.V, d.ID, 3000); err != nil {
				t.Fatal(err)
			}
			dc.refused(t, "accept own", jobsphere.Conflict, "You cannot accept your own proposal", func() error {
				_, err := dc.m.AcceptSettlement(dc.ctx, dc.cust.V, d.ID, nil)
				return err
			})
			d, err := dc.m.ProposeSettlement(dc.ctx, dc.con.V, d.ID, 6000)
			if err != nil {
				t.Fatal(err)
			}
			if d.RespondedAt == nil {
				t.Error("the contractor's proposal is their answer: respondedAt is empty")
			}
			dc.refused(t, "accept a replaced proposal", jobsphere.Conflict, "A newer proposal replaced this one", func() error {
				old := d.ID // any id that is not the latest
				_, err := dc.m.AcceptSettlement(dc.ctx, dc.cust.V, d.ID, &old)
				return err
			})
			if _, err := dc.m.AcceptSettlement(dc.ctx, dc.cust.V, d.ID, d.LatestProposalID); err != nil {
				t.Fatalf("accept: %v", err)
			}
			// Contractor +$48.00, service fee $12.00, customer +$40.00 and
			// +$2.00 of the platform fee: the platform keeps $3.00 of it.
			dc.requireSettled(t, d, dispute.SettledByAGREEMENT, 6000, job.StatusCOMPLETED, escrow.StatusSETTLED,
				4800, 4200, 300+1200)
			got, err := dc.client.Dispute.Get(dc.ctx, d.ID)
			if err != nil || got.CustomerRefund == nil || *got.CustomerRefund != 4200 {
				t.Errorf("customerRefund: %+v, %v; want 4200", got, err)
			}
			// A settlement with a share for the contractor may be reviewed.
			if _, err := dc.m.RateFreelancer(dc.ctx, dc.cust.V, market.RateInput{ContractID: dc.contract.ID, Rating: 3, Description: "Half done."}); err != nil {
				t.Errorf("review after a split: %v", err)
			}
		})

		t.Run("an admin resolves with $0: the customer gets $105.00 back", func(t *testing.T) {
			dc := newDisputeCase(t, db)
			d := dc.open(t, dc.cust)
			dc.refused(t, "resolve by a party", jobsphere.Forbidden, "Not authorized", func() error {
				_, err := dc.m.ResolveDispute(dc.ctx, dc.cust.V, d.ID, 0, "mine")
				return err
			})
			dc.refused(t, "share above the escrow", jobsphere.BadUserInput, "Contractor amount must be between $0.00 and $100.00 (the escrow)", func() error {
				_, err := dc.m.ResolveDispute(dc.ctx, dc.admin.V, d.ID, hundred+1, "too much")
				return err
			})
			if _, err := dc.m.ResolveDispute(dc.ctx, dc.admin.V, d.ID, 0, "No work was delivered."); err != nil {
				t.Fatalf("resolve: %v", err)
			}
			dc.requireSettled(t, d, dispute.SettledByADMIN, 0, job.StatusCANCELLED, escrow.StatusREFUNDED, 0, charge, 0)
			dc.refused(t, "resolve again", jobsphere.Conflict, "Dispute is SETTLED", func() error {
				_, err := dc.m.ResolveDispute(dc.ctx, dc.admin.V, d.ID, hundred, "again")
				return err
			})
		})

		t.Run("withdrawn: FUNDED again and released normally", func(t *testing.T) {
			dc := newDisputeCase(t, db)
			d := dc.open(t, dc.cust)
			dc.requireOpenDisputes(t, 1)
			dc.refused(t, "withdraw by the other party", jobsphere.Forbidden, "Only the party who opened a dispute may withdraw it", func() error {
				_, err := dc.m.WithdrawDispute(dc.ctx, dc.con.V, d.ID)
				return err
			})
			if d, err := dc.m.WithdrawDispute(dc.ctx, dc.cust.V, d.ID); err != nil || d.Status != dispute.StatusWITHDRAWN {
				t.Fatalf("withdraw: %+v, %v", d, err)
			}
			dc.requireContract(t, dc.job.ID, contract.StatusACTIVE, escrow.StatusFUNDED)
			dc.requireOpenDisputes(t, 0)
			dc.verify(t)
			dc.complete(t, dc.cust, dc.job.ID)
			if _, err := dc.m.ApproveFundRelease(dc.ctx, dc.admin.V, dc.contract.ID); err != nil {
				t.Fatal(err)
			}
			dc.requireContract(t, dc.job.ID, contract.StatusCOMPLETED, escrow.StatusRELEASED)
			dc.requireWallet(t, dc.con, payout, 0)
			dc.requireRevenue(t, platformFee+serviceFee)
		})
	})
}

// TestDisputedEscrowIsHeld: while a dispute is open, nothing but its end
// moves the escrow — no release, approval, refund, cancel or auto-release
// — and the contract has one open dispute.
func TestDisputedEscrowIsHeld(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		dc := newDisputeCase(t, db)
		dc.submit(t, dc.con, dc.job.ID, "Done")
		dc.complete(t, dc.cust, dc.job.ID) // RELEASE_REQUESTED, awaiting an admin
		d := dc.open(t, dc.con)
		before := dc.snapshot(t)
		for what, call := range map[string]func() error{
			"approve release": func() error { _, err := dc.m.ApproveFundRelease(dc.ctx, dc.admin.V, dc.contract.ID); return err },
			"refund escrow": func() error {
				_, err := dc.m.RefundEscrow(dc.ctx, dc.admin.V, market.RefundEscrowInput{ContractID: dc.contract.ID})
				return err
			},
			"cancel job": func() error { _, err := dc.m.CancelJob(dc.ctx, dc.cust.V, dc.job.ID, nil); return err },
		} {
			dc.refused(t, what, jobsphere.Conflict, "Escrow is DISPUTED", call)
		}
		dc.refused(t, "second dispute", jobsphere.Conflict, "This contract already has an open dispute", func() error {
			_, err := dc.m.OpenDispute(dc.ctx, dc.cust.V, market.OpenDisputeInput{ContractID: dc.contract.ID,
				Reason: dispute.ReasonOTHER, Description: "Me too"})
			return err
		})
		dc.clock.set(dc.clock.now().AddDate(0, 0, autoReleaseDays+1))
		if n, err := dc.m.AutoRelease(dc.ctx); n != 0 || err != nil {
			t.Fatalf("auto-release of a disputed escrow: %d, %v", n, err)
		}
		requireUnchanged(t, "disputed escrow", before, dc.snapshot(t))
		// Withdrawn, it is RELEASE_REQUESTED again: the admin's queue.
		if _, err := dc.m.WithdrawDispute(dc.ctx, dc.con.V, d.ID); err != nil {
			t.Fatal(err)
		}
		dc.requireContract(t, dc.job.ID, contract.StatusACTIVE, escrow.StatusRELEASE_REQUESTED)
		dc.verify(t)
	})
}

// TestDisputeAnswerStopsTheDefault: once the other party has posted,
// only a settlement or an admin ends the dispute; the opener's own
// messages and an admin's are no answer.
func TestDisputeAnswerStopsTheDefault(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		dc := newDisputeCase(t, db)
		d := dc.open(t, dc.cust)
		photo := dc.upload(t, dc.cust)
		for _, who := range []actor{dc.cust, dc.admin} {
			if _, err := dc.m.AddDisputeMessage(dc.ctx, who.V, market.DisputeMessageInput{DisputeID: d.ID, Body: "See the photo", MediaIDs: nil}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := dc.m.AddDisputeMessage(dc.ctx, dc.cust.V, market.DisputeMessageInput{DisputeID: d.ID, Body: "Photo", MediaIDs: idsOf(photo)}); err != nil {
			t.Fatal(err)
		}
		dc.refused(t, "someone else's upload", jobsphere.BadUserInput, "Attachments must be your own uploads", func() error {
			_, err := dc.m.AddDisputeMessage(dc.ctx, dc.con.V, market.DisputeMessageInput{DisputeID: d.ID, Body: "Mine?", MediaIDs: idsOf(photo)})
			return err
		})
		dc.refused(t, "empty message", jobsphere.BadUserInput, "Message is required", func() error {
			_, err := dc.m.AddDisputeMessage(dc.ctx, dc.con.V, market.DisputeMessageInput{DisputeID: d.ID, Body: "  "})
			return err
		})
		// Not answered yet: the default would still apply.
		if got, _ := dc.client.Dispute.Get(dc.ctx, d.ID); got.RespondedAt != nil {
			t.Fatal("the opener's and an admin's messages counted as the answer")
		}
		if _, err := dc.m.AddDisputeMessage(dc.ctx, dc.con.V, market.DisputeMessageInput{DisputeID: d.ID, Body: "It was fine when I left."}); err != nil {
			t.Fatal(err)
		}
		dc.clock.set(d.RespondBy.Add(time.Hour))
		if n, err := dc.m.SettleUnanswered(dc.ctx); n != 0 || err != nil {
			t.Fatalf("sweep of an answered dispute: %d, %v", n, err)
		}
		msgs, err := dc.client.Dispute.QueryMessages(d).All(dc.ctx)
		if err != nil || len(msgs) != 4 {
			t.Fatalf("messages: %d, %v; want 4", len(msgs), err)
		}
		dc.requireContract(t, dc.job.ID, contract.StatusACTIVE, escrow.StatusDISPUTED)
		dc.verify(t)
	})
}

// TestCardFundedSplit: a job paid by Checkout, split by an admin at $60:
// the customer's $42.00 goes back to the card as one Stripe refund,
// claimed before Stripe is asked. An unsure answer keeps the claim: no
// other end can happen, and the sweep finishes it once, with the same key.
func TestCardFundedSplit(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newDeliveryFixture(t, db, true)
		c, k, admin := f.customer(t, 0), f.contractor(t), f.admin(t)
		j := f.createJob(t, c)
		if err := f.payJob(j, c, k, "cs_test_split"); err != nil {
			t.Fatal(err)
		}
		ctr := f.contractOf(t, j.ID)
		r := &scriptedRefunder{answers: []refundAnswer{
			{refused: true, err: errors.New("charge is disputed")},
			{err: errors.New("stripe: timeout")}, // maybe refunded
			{},                                   // the sweep's retry
		}}
		f.m = f.m.WithCardRefunder(r)
		d, err := f.m.OpenDispute(f.ctx, c.V, market.OpenDisputeInput{ContractID: ctr.ID, Reason: dispute.ReasonNOT_AS_DESCRIBED, Description: "Wrong colour"})
		if err != nil {
			t.Fatal(err)
		}
		resolve := func(share int64) error {
			_, err := f.m.ResolveDispute(audit.WithRequestID(f.ctx, "rid-resolve"), admin.V, d.ID, share, "Half the work")
			return err
		}
		if err := resolve(6000); err == nil {
			t.Fatal("a refused card refund settled the dispute")
		}
		if got, _ := f.client.Dispute.Get(f.ctx, d.ID); got.SettledBy != nil {
			t.Fatalf("a refused refund left its claim: %+v", got)
		}
		if err := resolve(6000); err == nil {
			t.Fatal("an unsure card refund settled the dispute")
		}
		for what, call := range map[string]func() error{
			"another split": func() error { return resolve(5000) },
			"withdraw":      func() error { _, err := f.m.WithdrawDispute(f.ctx, c.V, d.ID); return err },
			"message":       func() error { _, err := f.m.ProposeSettlement(f.ctx, k.V, d.ID, 9000); return err },
		} {
			f.refused(t, what, jobsphere.Conflict, "A settlement of this dispute is in progress", call)
		}
		f.verify(t)
		// Claimed but not settled: nothing in the audit log yet.
		if n := f.client.AuditEntry.Query().Where(auditentry.TargetID(d.ID)).CountX(f.ctx); n != 0 {
			t.Fatalf("%d audit entries before the settlement is recorded", n)
		}
		f.clock.set(f.clock.now().Add(time.Second))
		if n, err := f.m.SweepCardRefunds(f.ctx, 0); n != 1 || err != nil {
			t.Fatalf("sweep: %d, %v", n, err)
		}
		if n, err := f.m.SweepCardRefunds(f.ctx, 0); n != 0 || err != nil {
			t.Fatalf("second sweep: %d, %v", n, err)
		}
		f.requireContract(t, j.ID, contract.StatusCOMPLETED, escrow.StatusSETTLED)
		f.requireWallet(t, k, 4800, 0)
		f.requireWallet(t, c, 0, 0) // the $42.00 went back to the card
		f.requireRevenue(t, 300+1200)
		// Recorded with the settlement, by the sweep, as the admin's request.
		entry := f.client.AuditEntry.Query().Where(auditentry.TargetID(d.ID)).OnlyX(f.ctx)
		if entry.ActorID != admin.V.UserID || entry.Action != "RESOLVE_DISPUTE" || entry.Reason == nil || *entry.Reason != "Half the work" ||
			deref(entry.RequestID) != "rid-resolve" ||
			entry.After == nil || *entry.After != "SETTLED contractorAmount=60.00 customerRefund=42.00" {
			t.Fatalf("audit entry %+v", entry)
		}
		want := "dispute:" + string(d.ID) + ":refund"
		if len(r.keys) != 3 || r.keys[1] != want || r.keys[2] != want {
			t.Fatalf("refund keys %v, want %s", r.keys, want)
		}
		tx, err := f.client.Tx(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if ours, err := f.m.CardRefundsOf(f.ctx, tx, "pi_cs_test_split"); ours != 4200 || err != nil {
			t.Errorf("card refunds of the payment: %d, %v; want 4200", ours, err)
		}
	})
}

// TestDisputeEndsRacePostgres: an admin's resolve, the other party's
// accept, the default outcome and the opener's withdrawal, all at once:
// one end, each of its postings made once, the ledger verified.
func TestDisputeEndsRacePostgres(t *testing.T) {
	for round := range 6 {
		dc := newDisputeCase(t, dbtest.Postgres)
		d := dc.open(t, dc.cust)
		if _, err := dc.m.ProposeSettlement(dc.ctx, dc.cust.V, d.ID, 2500); err != nil {
			t.Fatal(err)
		}
		dc.clock.set(d.RespondBy)
		var mu sync.Mutex
		won := map[string]int{}
		ends := []struct {
			name string
			call func() error
		}{
			{"resolve", func() error { _, err := dc.m.ResolveDispute(dc.ctx, dc.admin.V, d.ID, 7000, "Most of it"); return err }},
			{"accept", func() error { _, err := dc.m.AcceptSettlement(dc.ctx, dc.con.V, d.ID, nil); return err }},
			{"default", func() error {
				n, err := dc.m.SettleUnanswered(dc.ctx)
				if err == nil && n == 0 {
					return jobsphere.Errorf(jobsphere.Conflict, "nothing to settle")
				}
				return err
			}},
			{"withdraw", func() error { _, err := dc.m.WithdrawDispute(dc.ctx, dc.cust.V, d.ID); return err }},
		}
		errs := raceAll(len(ends), func(i int) error {
			err := ends[(i+round)%len(ends)].call()
			if err == nil {
				mu.Lock()
				won[ends[(i+round)%len(ends)].name]++
				mu.Unlock()
			}
			return err
		})
		for _, err := range errs {
			if err != nil && jobsphere.ErrorCode(err) != jobsphere.Conflict {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if len(won) != 1 {
			t.Fatalf("round %d: ends %v, want exactly one", round, won)
		}
		dc.verify(t)
		n, err := dc.client.LedgerTransaction.Query().Where(ledgertransaction.ContractID(dc.contract.ID),
			ledgertransaction.TypeIn(ledgertransaction.TypeSERVICE_FEE, ledgertransaction.TypeCONTRACTOR_PAYOUT, ledgertransaction.TypeREFUND)).Count(dc.ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"resolve": 3, "accept": 3, "default": 1, "withdraw": 0}
		for name := range won {
			if n != want[name] {
				t.Errorf("round %d: %s won with %d settlement transactions, want %d", round, name, n, want[name])
			}
		}
	}
}

func idsOf(ms ...*ent.Media) []pulid.ID {
	ids := make([]pulid.ID, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

// TestDisputeStopsAutoRelease: a delivered job disputed on day 13 is not
// completed by the clock on day 14.
func TestDisputeStopsAutoRelease(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		dc := newDisputeCase(t, db)
		delivered := dc.submit(t, dc.con, dc.job.ID, "All fixed")
		dc.clock.set(delivered.DeliveredAt.AddDate(0, 0, 13))
		dc.open(t, dc.cust)
		dc.clock.set(*delivered.AutoReleaseAt)
		if n, err := dc.m.AutoRelease(dc.ctx); n != 0 || err != nil {
			t.Fatalf("auto-release on day 14 of a job disputed on day 13: %d, %v", n, err)
		}
		dc.requireJob(t, dc.job.ID, job.StatusIN_PROGRESS)
		dc.requireContract(t, dc.job.ID, contract.StatusACTIVE, escrow.StatusDISPUTED)
		dc.verify(t)
	})
}
