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
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/media"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/market"
	"github.com/jobsphere/jobsphere/realtime"
)

// Delivery (submitWork) and the auto-release the sweeper makes
// AUTO_RELEASE_DAYS (14 by default) after it, with the customer reminded
// 48 hours before.

const autoReleaseDays = 14

// testClock is a clock the test moves; every marketplace of a test reads
// the same one, as replicas read the same wall clock.
type testClock struct {
	mu sync.Mutex
	at time.Time
}

func newTestClock() *testClock { return &testClock{at: time.Now().UTC().Truncate(time.Second)} }

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.at }

func (c *testClock) set(at time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.at = at }

// deliveryFixture is a marketplace on the test clock with its broker, so
// a test can watch the events a sweep sends.
type deliveryFixture struct {
	*fixture
	clock  *testClock
	broker *realtime.Memory
}

func newDeliveryFixture(t *testing.T, db dbtest.Database, approval bool) *deliveryFixture {
	t.Helper()
	broker := realtime.NewMemory()
	f := fixtureOn(t, dbtest.Open(t, db), db, broker, func(c *market.Config) { c.RequireReleaseApproval = approval })
	clock := newTestClock()
	f.m.SetClock(clock.now)
	return &deliveryFixture{fixture: f, clock: clock, broker: broker}
}

// inProgress takes a fresh $100 job of c for k from posting to
// IN_PROGRESS.
func (f *fixture) inProgress(t *testing.T, c, k actor) *ent.Job {
	t.Helper()
	j := f.createJob(t, c)
	o := f.sendOffer(t, c, f.apply(t, k, j.ID).ID, hundred)
	f.accept(t, k, o.Offer.ID)
	f.start(t, k, j.ID)
	return j
}

// upload records a file of owner, as uploadMedia does.
func (f *fixture) upload(t *testing.T, owner actor) *ent.Media {
	t.Helper()
	id := string(pulid.New("f"))
	m, err := f.client.Media.Create().SetOwnerID(owner.ID).SetURL("https://files.test/" + id + ".png").
		SetMediaType(media.MediaTypeIMAGE).SetBytes(1024).SetProvider(media.ProviderLOCAL).SetProviderID(id).Save(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) submit(t *testing.T, k actor, jobID pulid.ID, note string, mediaIDs ...pulid.ID) *ent.Job {
	t.Helper()
	j, err := f.m.SubmitWork(f.ctx, k.V, market.SubmitWorkInput{JobID: jobID, Note: note, MediaIDs: mediaIDs})
	if err != nil {
		t.Fatalf("submitWork: %v", err)
	}
	f.verify(t)
	return j
}

// watch subscribes to a user's realtime topic; drain then returns what
// arrived (the memory broker delivers at commit, so a finished sweep's
// events are there).
func (f *deliveryFixture) watch(t *testing.T, u actor) func() []realtime.Event {
	t.Helper()
	events, err := f.broker.Subscribe(t.Context(), "user:"+string(u.ID))
	if err != nil {
		t.Fatal(err)
	}
	return func() []realtime.Event {
		var got []realtime.Event
		for {
			select {
			case ev := <-events:
				got = append(got, ev)
			default:
				return got
			}
		}
	}
}

func kinds(evs []realtime.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Kind + ":" + ev.IDs["job"]
	}
	return out
}

func TestSubmitWork(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newDeliveryFixture(t, db, true)
		cust, con, other := f.customer(t, charge), f.contractor(t), f.contractor(t)
		j := f.inProgress(t, cust, con)
		shot, clip := f.upload(t, con), f.upload(t, con)
		events := f.watch(t, cust)

		delivered := f.clock.now()
		got := f.submit(t, con, j.ID, "  Replaced the trap and resealed the drain.  ", shot.ID, clip.ID, shot.ID)
		if got.Status != job.StatusIN_PROGRESS || got.DeliveredAt == nil || !got.DeliveredAt.Equal(delivered) ||
			got.AutoReleaseAt == nil || !got.AutoReleaseAt.Equal(delivered.AddDate(0, 0, autoReleaseDays)) {
			t.Errorf("delivered job: status %s, deliveredAt %v, autoReleaseAt %v; want IN_PROGRESS, %v, %d days later",
				got.Status, got.DeliveredAt, got.AutoReleaseAt, delivered, autoReleaseDays)
		}
		if k := kinds(events()); len(k) != 1 || k[0] != "JOB_STATUS_CHANGED:"+string(j.ID) {
			t.Errorf("the customer was told %v, want one JOB_STATUS_CHANGED of the job", k)
		}
		for _, who := range []actor{cust, con, f.admin(t)} {
			d, err := f.m.Delivery(f.ctx, who.V, got)
			if err != nil {
				t.Fatal(err)
			}
			if d == nil || d.Note == nil || *d.Note != "Replaced the trap and resealed the drain." || len(d.Attachments) != 2 ||
				d.Attachments[0].ID != shot.ID || d.Attachments[1].ID != clip.ID {
				t.Errorf("%s sees the delivery %+v; want the trimmed note and the two uploads in order", who.V.Role, d)
			}
		}
		if d, err := f.m.Delivery(f.ctx, other.V, got); d != nil || err != nil {
			t.Errorf("another contractor sees the delivery %+v (%v), want nil", d, err)
		}

		// Refusals, each changing nothing.
		f.refused(t, "another contractor", jobsphere.Forbidden, "", func() error {
			_, err := f.m.SubmitWork(f.ctx, other.V, market.SubmitWorkInput{JobID: j.ID, Note: "Mine"})
			return err
		})
		f.refused(t, "the customer", jobsphere.Forbidden, "", func() error {
			_, err := f.m.SubmitWork(f.ctx, cust.V, market.SubmitWorkInput{JobID: j.ID, Note: "Done"})
			return err
		})
		e := f.refused(t, "a note over 5000 characters", jobsphere.BadUserInput, "", func() error {
			_, err := f.m.SubmitWork(f.ctx, con.V, market.SubmitWorkInput{JobID: j.ID, Note: strings.Repeat("a", 5001)})
			return err
		})
		requireFields(t, "long note", e, "note")
		someoneElses := f.upload(t, other)
		for what, id := range map[string]pulid.ID{"someone else's upload": someoneElses.ID, "no upload": pulid.New("med")} {
			e := f.refused(t, what, jobsphere.BadUserInput, "", func() error {
				_, err := f.m.SubmitWork(f.ctx, con.V, market.SubmitWorkInput{JobID: j.ID, Note: "Done", MediaIDs: []pulid.ID{shot.ID, id}})
				return err
			})
			requireFields(t, what, e, "mediaIds")
		}
		assigned := f.createJob(t, cust)
		f.fund(t, cust.ID, charge)
		f.accept(t, con, f.sendOffer(t, cust, f.apply(t, con, assigned.ID).ID, hundred).Offer.ID)
		f.refused(t, "an ASSIGNED job", jobsphere.Conflict, "Job is ASSIGNED; work is submitted on an IN_PROGRESS job", func() error {
			_, err := f.m.SubmitWork(f.ctx, con.V, market.SubmitWorkInput{JobID: assigned.ID, Note: "Done"})
			return err
		})

		// Again, two days later: the delivery is replaced and the clock
		// starts again.
		f.clock.set(delivered.Add(48 * time.Hour))
		again := f.submit(t, con, j.ID, "")
		if !again.DeliveredAt.Equal(delivered.Add(48*time.Hour)) || !again.AutoReleaseAt.Equal(delivered.AddDate(0, 0, autoReleaseDays+2)) {
			t.Errorf("delivered again: deliveredAt %v, autoReleaseAt %v; want the clock restarted", again.DeliveredAt, again.AutoReleaseAt)
		}
		if d, _ := f.m.Delivery(f.ctx, cust.V, again); d == nil || d.Note != nil || len(d.Attachments) != 0 {
			t.Errorf("the second delivery is %+v, want no note and no attachments", d)
		}

		// Once the customer has asked for the release, there is nothing to
		// deliver; nor on a completed job.
		f.complete(t, cust, j.ID)
		f.refused(t, "a release requested", jobsphere.Conflict, "Escrow is RELEASE_REQUESTED", func() error {
			_, err := f.m.SubmitWork(f.ctx, con.V, market.SubmitWorkInput{JobID: j.ID, Note: "More"})
			return err
		})
		if _, err := f.m.ApproveFundRelease(f.ctx, f.admin(t).V, f.contractOf(t, j.ID).ID); err != nil {
			t.Fatal(err)
		}
		f.refused(t, "a COMPLETED job", jobsphere.Conflict, "Job is COMPLETED; work is submitted on an IN_PROGRESS job", func() error {
			_, err := f.m.SubmitWork(f.ctx, con.V, market.SubmitWorkInput{JobID: j.ID, Note: "More"})
			return err
		})
	})
}

// TestAutoRelease: a delivered job the customer leaves alone is reminded
// 48 hours before, once, and completed AUTO_RELEASE_DAYS after the
// delivery, once, as completeJob would: to the admins' queue with
// REQUIRE_RELEASE_APPROVAL, else paid out.
func TestAutoRelease(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		for _, approval := range []bool{true, false} {
			t.Run(fmt.Sprintf("approval %v", approval), func(t *testing.T) {
				f := newDeliveryFixture(t, db, approval)
				cust, con := f.customer(t, charge), f.contractor(t)
				j := f.inProgress(t, cust, con)
				delivered := f.clock.now()
				f.submit(t, con, j.ID, "Done.")
				events := f.watch(t, cust)
				due := delivered.AddDate(0, 0, autoReleaseDays)

				sweep := func(at time.Time) (reminded, released int) {
					t.Helper()
					f.clock.set(at)
					released, err := f.m.AutoRelease(f.ctx)
					if err != nil {
						t.Fatalf("autoRelease: %v", err)
					}
					reminded, err = f.m.RemindAutoReleases(f.ctx)
					if err != nil {
						t.Fatalf("remindAutoReleases: %v", err)
					}
					f.verify(t)
					return reminded, released
				}

				before := f.snapshot(t)
				if reminded, released := sweep(due.Add(-market.AutoReleaseReminderLead - time.Second)); reminded != 0 || released != 0 {
					t.Errorf("3 days after the delivery: %d reminded, %d released; want none", reminded, released)
				}
				requireUnchanged(t, "a sweep before anything is due", before, f.snapshot(t))
				if k := kinds(events()); len(k) != 0 {
					t.Errorf("before the reminder the customer got %v", k)
				}

				if reminded, released := sweep(due.Add(-market.AutoReleaseReminderLead)); reminded != 1 || released != 0 {
					t.Errorf("48 hours before: %d reminded, %d released; want 1, 0", reminded, released)
				}
				if reminded, released := sweep(due.Add(-time.Second)); reminded != 0 || released != 0 {
					t.Errorf("a second before: %d reminded, %d released; want none (reminded once)", reminded, released)
				}
				if k := kinds(events()); len(k) != 1 || k[0] != "AUTO_RELEASE_REMINDER:"+string(j.ID) {
					t.Errorf("the customer got %v, want one AUTO_RELEASE_REMINDER of the job", k)
				}
				f.requireJob(t, j.ID, job.StatusIN_PROGRESS)
				f.requireContract(t, j.ID, contract.StatusACTIVE, escrow.StatusFUNDED)

				if _, released := sweep(due); released != 1 {
					t.Errorf("at autoReleaseAt: %d released, want 1", released)
				}
				if _, released := sweep(due.Add(time.Hour)); released != 0 {
					t.Errorf("an hour later: %d released again", released)
				}
				requireAutoReleased(t, f.fixture, approval, j.ID)
			})
		}
	})
}

// TestRedeliveryRestartsTheClock: a second delivery moves autoReleaseAt
// and earns the customer a reminder of the new date.
func TestRedeliveryRestartsTheClock(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newDeliveryFixture(t, db, false)
		cust, con := f.customer(t, charge), f.contractor(t)
		j := f.inProgress(t, cust, con)
		first := f.clock.now()
		f.submit(t, con, j.ID, "Done.")
		events := f.watch(t, cust)
		sweep := func(at time.Time, wantReminded, wantReleased int) {
			t.Helper()
			f.clock.set(at)
			released, err := f.m.AutoRelease(f.ctx)
			if err != nil || released != wantReleased {
				t.Errorf("at %v: %d released (%v), want %d", at.Sub(first), released, err, wantReleased)
			}
			reminded, err := f.m.RemindAutoReleases(f.ctx)
			if err != nil || reminded != wantReminded {
				t.Errorf("at %v: %d reminded (%v), want %d", at.Sub(first), reminded, err, wantReminded)
			}
			f.verify(t)
		}
		firstDue := first.AddDate(0, 0, autoReleaseDays)
		sweep(firstDue.Add(-market.AutoReleaseReminderLead), 1, 0)

		second := firstDue.Add(-time.Hour)
		f.clock.set(second)
		f.submit(t, con, j.ID, "Fixed the drip as well.")
		sweep(firstDue, 0, 0)
		secondDue := second.AddDate(0, 0, autoReleaseDays)
		sweep(secondDue.Add(-market.AutoReleaseReminderLead), 1, 0)
		sweep(secondDue, 0, 1)
		reminder, changed := "AUTO_RELEASE_REMINDER:"+string(j.ID), "JOB_STATUS_CHANGED:"+string(j.ID)
		if k := kinds(events()); len(k) < 3 || k[0] != reminder || k[1] != changed || k[2] != reminder {
			t.Errorf("the customer got %v, want a reminder, the redelivery, a reminder, then the release's events", k)
		}
		requireAutoReleased(t, f.fixture, false, j.ID)
	})
}

// requireAutoReleased checks a $100 job was completed once, as completeJob
// would: awaiting an admin (who then approves) or paid out.
func requireAutoReleased(t *testing.T, f *fixture, approval bool, jobID pulid.ID) {
	t.Helper()
	if approval {
		f.requireJob(t, jobID, job.StatusIN_PROGRESS)
		f.requireContract(t, jobID, contract.StatusACTIVE, escrow.StatusRELEASE_REQUESTED)
		if _, err := f.m.ApproveFundRelease(f.ctx, f.admin(t).V, f.contractOf(t, jobID).ID); err != nil {
			t.Fatalf("approve the auto-release: %v", err)
		}
		f.verify(t)
	}
	f.requireJob(t, jobID, job.StatusCOMPLETED)
	f.requireContract(t, jobID, contract.StatusCOMPLETED, escrow.StatusRELEASED)
	for typ, want := range map[ledgertransaction.Type]int{ledgertransaction.TypeSERVICE_FEE: 1, ledgertransaction.TypeCONTRACTOR_PAYOUT: 1} {
		n, err := f.client.LedgerTransaction.Query().Where(ledgertransaction.JobID(jobID), ledgertransaction.TypeEQ(typ)).Count(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("job %s has %d %s transactions, want %d", jobID, n, typ, want)
		}
	}
}

// TestAutoReleaseOnlyFromFunded: an escrow that is no longer FUNDED (here
// the customer asked for the release; a disputed one likewise) is never
// released or reminded by the clock.
func TestAutoReleaseOnlyFromFunded(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newDeliveryFixture(t, db, true)
		cust, con := f.customer(t, charge), f.contractor(t)
		j := f.inProgress(t, cust, con)
		f.submit(t, con, j.ID, "Done.")
		f.complete(t, cust, j.ID)
		events := f.watch(t, cust)
		before := f.snapshot(t)
		f.clock.set(f.clock.now().AddDate(0, 0, autoReleaseDays+1))
		released, err := f.m.AutoRelease(f.ctx)
		if err != nil || released != 0 {
			t.Errorf("autoRelease of a RELEASE_REQUESTED escrow: %d released (%v), want 0", released, err)
		}
		reminded, err := f.m.RemindAutoReleases(f.ctx)
		if err != nil || reminded != 0 {
			t.Errorf("reminders for a RELEASE_REQUESTED escrow: %d (%v), want 0", reminded, err)
		}
		requireUnchanged(t, "sweeps of a RELEASE_REQUESTED escrow", before, f.snapshot(t))
		if k := kinds(events()); len(k) != 0 {
			t.Errorf("the customer got %v", k)
		}
		f.verify(t)
	})
}

// TestAutoReleaseTwoReplicasPostgres: two marketplaces, each with its own
// connection pool on one PostgreSQL database (two replicas), sweep at the
// same moment: each customer is reminded once and each job completed
// once, with each posting made once.
func TestAutoReleaseTwoReplicasPostgres(t *testing.T) {
	dbtest.RequirePostgres(t)
	const jobs = 12
	for _, approval := range []bool{true, false} {
		t.Run(fmt.Sprintf("approval %v", approval), func(t *testing.T) {
			broker := realtime.NewMemory() // what the PostgreSQL broker is to replicas
			clock := newTestClock()
			var replicas []*fixture
			for _, client := range dbtest.Replicas(t, 2) {
				r := fixtureOn(t, client, dbtest.Postgres, broker, func(c *market.Config) { c.RequireReleaseApproval = approval })
				r.m.SetClock(clock.now)
				replicas = append(replicas, r)
			}
			f := &deliveryFixture{fixture: replicas[0], clock: clock, broker: broker}
			cust, con := f.customer(t, jobs*charge), f.contractor(t)
			delivered := map[pulid.ID]bool{}
			for range jobs {
				j := f.inProgress(t, cust, con)
				f.submit(t, con, j.ID, "Done.")
				delivered[j.ID] = true
			}
			events := f.watch(t, cust)
			due := clock.now().AddDate(0, 0, autoReleaseDays)

			// both replicas run sweep at once, and return what each did
			sweepTogether := func(sweep func(*market.Service, context.Context) (int, error)) int {
				t.Helper()
				counts := make([]int, len(replicas))
				errs := raceAll(len(replicas), func(i int) (err error) {
					counts[i], err = sweep(replicas[i].m, f.ctx)
					return err
				})
				total := 0
				for i, err := range errs {
					if err != nil {
						t.Errorf("replica %d: %v", i, err)
					}
					total += counts[i]
				}
				f.verify(t)
				return total
			}

			clock.set(due.Add(-market.AutoReleaseReminderLead))
			if n := sweepTogether((*market.Service).RemindAutoReleases); n != jobs {
				t.Errorf("two replicas reminded %d times, want %d (once per job)", n, jobs)
			}
			reminders := map[string]int{}
			for _, k := range kinds(events()) {
				reminders[k]++
			}
			for id := range delivered {
				if n := reminders["AUTO_RELEASE_REMINDER:"+string(id)]; n != 1 {
					t.Errorf("job %s: %d reminders, want 1", id, n)
				}
			}
			if len(reminders) != jobs {
				t.Errorf("events %v, want one reminder per job and nothing else", reminders)
			}

			clock.set(due)
			if n := sweepTogether((*market.Service).AutoRelease); n != jobs {
				t.Errorf("two replicas auto-released %d times, want %d (once per job)", n, jobs)
			}
			for id := range delivered {
				requireAutoReleased(t, f.fixture, approval, id)
			}
			f.requireWallet(t, con, jobs*payout, 0)
			f.requireWallet(t, cust, 0, 0)
			f.requireRevenue(t, jobs*(platformFee+serviceFee))
		})
	}
}
