package market_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/offer"
	"github.com/jobsphere/jobsphere/market"
)

// The races an attacker found between moves of one job. Each round sends
// the two calls 0–8 ms apart (the window the attack hit), then checks the
// outcome is one of those a single order of the two calls gives, and that
// the ledger, and the job's agreement with its contract and escrow,
// verify.

func TestJobRacesPostgres(t *testing.T) {
	dbtest.RequirePostgres(t)
	for _, r := range jobRaces {
		t.Run(r.name, func(t *testing.T) { r.run(t, newFixture(t, dbtest.Postgres), 50) })
	}
}

func TestJobRacesSQLite(t *testing.T) {
	for _, r := range jobRaces {
		t.Run(r.name, func(t *testing.T) { r.run(t, newFixture(t, dbtest.SQLite), 5) })
	}
}

var jobRaces = []struct {
	name string
	run  func(t *testing.T, f *fixture, rounds int)
}{
	{"acceptOffer against cancelJob", raceAcceptAndCancel},
	{"job checkout against cancelJob", raceCheckoutAndCancel},
	{"job checkout against withdrawOffer", raceCheckoutAndWithdraw},
}

// staggered runs a and b at once, the one of them round r picks starting
// up to 8 ms after the other.
func staggered(r int, a, b func() error) (errA, errB error) {
	delay := time.Duration(r/2%9) * time.Millisecond
	errs := raceAll(2, func(i int) error {
		if i == r%2 {
			time.Sleep(delay)
		}
		if i == 0 {
			return a()
		}
		return b()
	})
	return errs[0], errs[1]
}

// requireConflictNaming checks err is a CONFLICT whose message names one
// of statuses: the state the call found.
func requireConflictNaming(t *testing.T, what string, err error, statuses ...string) {
	t.Helper()
	e := requireError(t, what, err, jobsphere.Conflict, "")
	if e == nil {
		return
	}
	for _, s := range statuses {
		if strings.Contains(e.Message, s) {
			return
		}
	}
	t.Errorf("%s: refused with %q, which names none of %v", what, e.Message, statuses)
}

// raceAcceptAndCancel: the contractor accepts the offer while the customer
// cancels the job. Either the cancel wins (the offer's hold goes back), or
// the accept wins and the cancel is refused naming ASSIGNED, or the cancel
// saw the accepted job and refunded its escrow. Never a cancelled job with
// a held escrow.
func raceAcceptAndCancel(t *testing.T, f *fixture, rounds int) {
	outcomes := map[string]int{}
	defer func() { t.Logf("outcomes: %v", outcomes) }()
	for r := range rounds {
		cust, con := f.customer(t, charge), f.contractor(t)
		j := f.createJob(t, cust)
		o := f.sendOffer(t, cust, f.apply(t, con, j.ID).ID, hundred)
		var cancelled *market.CancelJobResult
		acceptErr, cancelErr := staggered(r,
			func() error { _, err := f.m.AcceptOffer(f.ctx, con.V, o.Offer.ID); return err },
			func() (err error) { cancelled, err = f.m.CancelJob(f.ctx, cust.V, j.ID, nil); return err })
		f.verify(t)
		what := fmt.Sprintf("round %d", r)
		switch {
		case acceptErr == nil && cancelErr == nil: // accepted, then cancelled with the escrow refunded
			outcomes["accepted, then cancelled"]++
			f.requireContract(t, j.ID, contract.StatusCANCELLED, escrow.StatusREFUNDED)
			f.requireWallet(t, cust, charge, 0)
			if cancelled.RefundAmount != charge {
				t.Errorf("%s: cancel after accept refunded %d, want %d", what, cancelled.RefundAmount, charge)
			}
		case cancelErr == nil:
			outcomes["cancel won"]++
			requireConflictNaming(t, what+": accept that lost to the cancel", acceptErr, "Job is CANCELLED", "Offer is WITHDRAWN")
			f.requireOffer(t, o.Offer.ID, offer.StatusWITHDRAWN)
			f.requireWallet(t, cust, charge, 0)
			if cancelled.RefundAmount != charge {
				t.Errorf("%s: cancel refunded %d, want the hold %d", what, cancelled.RefundAmount, charge)
			}
		case acceptErr == nil:
			outcomes["accept won"]++
			requireConflictNaming(t, what+": cancel that lost to the accept", cancelErr, "ASSIGNED")
			f.requireJob(t, j.ID, job.StatusASSIGNED)
			f.requireContract(t, j.ID, contract.StatusACTIVE, escrow.StatusFUNDED)
			f.requireWallet(t, cust, 0, hundred)
		default:
			t.Errorf("%s: accept %v, cancel %v; want at least one to succeed", what, acceptErr, cancelErr)
		}
	}
}

// alwaysRefunds is a card refunder whose refunds all succeed.
type alwaysRefunds struct {
	mu   sync.Mutex
	keys []string
}

func (r *alwaysRefunds) RefundCard(_ context.Context, key, _ string, _ int64) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, key)
	return false, nil
}

// payJob applies a paid job Checkout for j, as the webhook does.
func (f *fixture) payJob(j *ent.Job, customer, contractor actor, session string) error {
	return f.client.WithTx(f.ctx, func(tx *ent.Tx) error {
		return f.m.FundFromCheckout(f.ctx, tx, market.JobPayment{JobID: j.ID, CustomerID: customer.ID, ContractorID: contractor.ID,
			Split: hundredSplit, SessionID: session, PaymentIntentID: "pi_" + session})
	})
}

// raceCheckoutAndCancel: a job Checkout is paid while the customer cancels
// the job. Either the cancel wins (the payment lands in the wallet), or
// the checkout wins and the cancel is refused naming ASSIGNED, or the
// cancel saw the paid job and refunded the card.
func raceCheckoutAndCancel(t *testing.T, f *fixture, rounds int) {
	refunder := &alwaysRefunds{}
	f.m = f.m.WithCardRefunder(refunder)
	outcomes := map[string]int{}
	defer func() { t.Logf("outcomes: %v", outcomes) }()
	for r := range rounds {
		cust, con := f.customer(t, 0), f.contractor(t)
		j := f.createJob(t, cust)
		payErr, cancelErr := staggered(r,
			func() error { return f.payJob(j, cust, con, fmt.Sprintf("cs_race_cancel_%s", j.ID)) },
			func() error { _, err := f.m.CancelJob(f.ctx, cust.V, j.ID, nil); return err })
		f.verify(t)
		what := fmt.Sprintf("round %d", r)
		if payErr != nil {
			t.Errorf("%s: the checkout's webhook failed: %v", what, payErr)
			continue
		}
		switch now := f.job(t, j.ID); {
		case cancelErr != nil:
			outcomes["checkout won"]++
			requireConflictNaming(t, what+": cancel that lost to the checkout", cancelErr, "ASSIGNED")
			f.requireContract(t, j.ID, contract.StatusACTIVE, escrow.StatusFUNDED)
			f.requireWallet(t, cust, 0, hundred)
		case now.ContractorID != nil: // paid, then cancelled: back to the card
			outcomes["paid, then cancelled"]++
			f.requireContract(t, j.ID, contract.StatusCANCELLED, escrow.StatusREFUNDED)
			f.requireWallet(t, cust, 0, 0)
		default: // cancelled first: the card payment is credited to the wallet
			outcomes["cancel won"]++
			f.requireWallet(t, cust, charge, 0)
		}
	}
}

// raceCheckoutAndWithdraw: the customer withdraws a pending offer while a
// job Checkout for the same job is paid (which withdraws pending offers
// itself). Both must finish, one lock order for both: no deadlock.
func raceCheckoutAndWithdraw(t *testing.T, f *fixture, rounds int) {
	for r := range rounds {
		cust, con := f.customer(t, charge), f.contractor(t)
		j := f.createJob(t, cust)
		o := f.sendOffer(t, cust, f.apply(t, con, j.ID).ID, hundred)
		payErr, withdrawErr := staggered(r,
			func() error { return f.payJob(j, cust, con, fmt.Sprintf("cs_race_withdraw_%s", j.ID)) },
			func() error { _, err := f.m.WithdrawOffer(f.ctx, cust.V, o.Offer.ID); return err })
		f.verify(t)
		what := fmt.Sprintf("round %d", r)
		if payErr != nil {
			t.Errorf("%s: the checkout's webhook failed: %v", what, payErr)
		}
		if withdrawErr != nil {
			requireConflictNaming(t, what+": withdrawal that lost to the checkout", withdrawErr, "WITHDRAWN")
		}
		f.requireOffer(t, o.Offer.ID, offer.StatusWITHDRAWN)
		f.requireJob(t, j.ID, job.StatusASSIGNED)
		f.requireContract(t, j.ID, contract.StatusACTIVE, escrow.StatusFUNDED)
		f.requireWallet(t, cust, charge, hundred)
	}
}

// TestApprovalSeesWhatItWaitedFor: an approval that waits for the job's
// lock sees what the lock's holder committed meanwhile — here the release
// request, as completeJob makes it — and approves it, rather than being
// refused by a read from before it waited (on PostgreSQL a release's moves
// are one statement, which reads as of its start: it starts once the lock
// is held).
func TestApprovalSeesWhatItWaitedFor(t *testing.T) {
	dbtest.RequirePostgres(t)
	f := newFixture(t, dbtest.Postgres)
	c, k, admin := f.customer(t, charge), f.contractor(t), f.admin(t)
	j := f.createJob(t, c)
	o := f.sendOffer(t, c, f.apply(t, k, j.ID).ID, hundred)
	acc := f.accept(t, k, o.Offer.ID)
	f.start(t, k, j.ID)

	holder, err := f.client.Tx(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.Job.Query().Where(job.ID(j.ID)).ForUpdate().Only(f.ctx); err != nil {
		t.Fatal(err)
	}
	err = holder.Escrow.Update().Where(escrow.ContractID(acc.Contract.ID), escrow.StatusEQ(escrow.StatusFUNDED)).
		SetStatus(escrow.StatusRELEASE_REQUESTED).SetReleaseRequestedAt(time.Now()).Exec(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	approved := make(chan error, 1)
	go func() {
		_, err := f.m.ApproveFundRelease(f.ctx, admin.V, acc.Contract.ID)
		approved <- err
	}()
	// Until the approval waits for the lock (a deadline only so that a
	// broken build fails instead of hanging).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		var waiting int
		rows, err := f.client.QueryContext(f.ctx,
			"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			if err := rows.Scan(&waiting); err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the approval never waited for the job's lock")
		}
	}
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-approved; err != nil {
		t.Fatalf("approval that waited for the release request: %v, want it approved", err)
	}
	f.verify(t)
	if st := f.client.Escrow.Query().Where(escrow.ContractID(acc.Contract.ID)).OnlyX(f.ctx).Status; st != escrow.StatusRELEASED {
		t.Errorf("escrow after the approval: %s, want RELEASED", st)
	}
}
