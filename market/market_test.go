package market_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/jobapplication"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/offer"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/market"
	"github.com/jobsphere/jobsphere/realtime"
)

// Amounts in minor units, at the default fees (customer 500 bps, contractor
// 2000 bps).
const (
	hundred     int64 = 10000 // the job: $100.00
	platformFee int64 = 500   // 5% on top, charged to the customer at accept
	serviceFee  int64 = 2000  // 20% of the amount, taken at release
	payout      int64 = 8000  // what the contractor receives
	charge      int64 = 10500 // what the customer's offer holds
)

var hundredSplit = ledger.Split{
	Amount: hundred, PlatformFee: platformFee, ServiceFee: serviceFee,
	ContractorPayout: payout, TotalCharge: charge, AdminTotal: platformFee + serviceFee,
}

// fixture is a fresh database with the ledger and the marketplace on it,
// as the server builds them, without the HTTP stack. Every helper that
// changes something verifies the ledger afterwards.
type fixture struct {
	client *ent.Client
	ledger *ledger.Ledger
	m      *market.Service
	ctx    context.Context
}

// newFixture builds the marketplace at the default configuration, which
// each tweak may change.
func newFixture(t *testing.T, db dbtest.Database, tweaks ...func(*market.Config)) *fixture {
	t.Helper()
	return fixtureOn(t, dbtest.Open(t, db), db, realtime.NewMemory(), tweaks...)
}

// fixtureOn builds the marketplace on client (a database of kind db),
// publishing to broker.
func fixtureOn(t *testing.T, client *ent.Client, db dbtest.Database, broker realtime.Broker, tweaks ...func(*market.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(func(k string) string { return map[string]string{"APP_ENV": "test", "DATA_DIR": t.TempDir()}[k] })
	if err != nil {
		t.Fatal(err)
	}
	l := ledger.New(client, cfg.Currency, db == dbtest.Postgres)
	if err := l.EnsurePlatformAccounts(ctx); err != nil {
		t.Fatal(err)
	}
	mc := market.Config{
		Currency: cfg.Currency,
		Rates:    ledger.Rates{CustomerBPS: cfg.FeeCustomerBPS, ContractorBPS: cfg.FeeContractorBPS},
		MinOffer: cfg.MinOffer, MaxOffer: cfg.MaxOffer, OfferTTL: cfg.OfferTTL,
		RequireReleaseApproval: cfg.RequireReleaseApproval, AutoReleaseDays: cfg.AutoReleaseDays,
		DisputeResponseDays: cfg.DisputeResponseDays,
	}
	for _, tweak := range tweaks {
		tweak(&mc)
	}
	m, err := market.NewService(client, l, broker, mc, noCardRefunds{})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{client: client, ledger: l, m: m, ctx: ctx}
}

// noCardRefunds refuses every refund to a card: the tests that refund
// cards script Stripe's answers (WithCardRefunder).
type noCardRefunds struct{}

func (noCardRefunds) RefundCard(context.Context, string, string, int64) (bool, error) {
	return true, errors.New("no refunds to cards in this test")
}

// actor is a signed-up user and the viewer their service calls carry.
type actor struct {
	ID pulid.ID
	V  auth.Viewer
}

// user makes a user of role r with an empty wallet, as sign-up does.
func (f *fixture) user(t *testing.T, r role.Role) actor {
	t.Helper()
	var id pulid.ID
	err := f.client.WithTx(f.ctx, func(tx *ent.Tx) error {
		u, err := tx.User.Create().SetEmail(string(pulid.New("u")) + "@market.test").SetPasswordHash("not a hash").
			SetName("Market User").SetRole(r).Save(f.ctx)
		if err != nil {
			return err
		}
		id = u.ID
		_, err = f.ledger.OpenWallet(f.ctx, tx.Client(), u.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return actor{ID: id, V: auth.Viewer{UserID: id, Role: r}}
}

// fund credits amount to a user's wallet, as a paid deposit does.
func (f *fixture) fund(t *testing.T, id pulid.ID, amount int64) {
	t.Helper()
	err := f.client.WithTx(f.ctx, func(tx *ent.Tx) error {
		_, err := f.ledger.Post(f.ctx, tx.Client(), ledger.Entry{
			Key: "test-fund:" + string(pulid.New("k")), Type: ledgertransaction.TypeDEPOSIT, Description: "Test funds",
			Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(id), Amount: amount}},
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// customer registers a customer and funds their wallet with amount.
func (f *fixture) customer(t *testing.T, amount int64) actor {
	t.Helper()
	c := f.user(t, role.Customer)
	if amount > 0 {
		f.fund(t, c.ID, amount)
	}
	f.verify(t)
	return c
}

func (f *fixture) contractor(t *testing.T) actor { t.Helper(); return f.user(t, role.Contractor) }
func (f *fixture) admin(t *testing.T) actor      { t.Helper(); return f.user(t, role.Admin) }

// verify fails the test unless the ledger verifies.
func (f *fixture) verify(t *testing.T) *ledger.Report {
	t.Helper()
	r, err := f.ledger.Verify(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("ledger does not verify: %v", r.Problems)
	}
	return r
}

func (f *fixture) createJob(t *testing.T, c actor) *ent.Job {
	t.Helper()
	j, err := f.m.CreateJob(f.ctx, c.V, market.CreateJobInput{
		Title: "Fix the kitchen sink", Description: "The kitchen sink leaks under the cabinet.", Budget: hundred,
	})
	if err != nil {
		t.Fatalf("createJob: %v", err)
	}
	f.verify(t)
	if j.Status != job.StatusOPEN || j.PostedByID != c.ID || j.Budget != hundred {
		t.Fatalf("new job: status %s, posted by %s, budget %d; want OPEN, %s, %d", j.Status, j.PostedByID, j.Budget, c.ID, hundred)
	}
	return j
}

func (f *fixture) apply(t *testing.T, k actor, jobID pulid.ID) *ent.JobApplication {
	t.Helper()
	letter := "I have fixed many sinks."
	a, err := f.m.Apply(f.ctx, k.V, market.ApplyInput{JobID: jobID, CoverLetter: &letter})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	f.verify(t)
	if a.Status != jobapplication.StatusPENDING {
		t.Fatalf("new application is %s, want PENDING", a.Status)
	}
	return a
}

func offerInput(appID pulid.ID, amount int64) market.SendOfferInput {
	return market.SendOfferInput{ApplicationID: appID, Amount: amount, Timeline: "7 days", Description: "Replace the trap and reseal the drain."}
}

func (f *fixture) sendOffer(t *testing.T, c actor, appID pulid.ID, amount int64) *market.SendOfferResult {
	t.Helper()
	res, err := f.m.SendOffer(f.ctx, c.V, offerInput(appID, amount))
	if err != nil {
		t.Fatalf("sendOffer: %v", err)
	}
	f.verify(t)
	if res.Offer.Status != offer.StatusPENDING {
		t.Fatalf("new offer is %s, want PENDING", res.Offer.Status)
	}
	return res
}

func (f *fixture) accept(t *testing.T, k actor, offerID pulid.ID) *market.AcceptOfferResult {
	t.Helper()
	res, err := f.m.AcceptOffer(f.ctx, k.V, offerID)
	if err != nil {
		t.Fatalf("acceptOffer: %v", err)
	}
	f.verify(t)
	return res
}

func (f *fixture) start(t *testing.T, who actor, jobID pulid.ID) {
	t.Helper()
	j, err := f.m.UpdateJobStatus(f.ctx, who.V, jobID, job.StatusIN_PROGRESS)
	if err != nil {
		t.Fatalf("updateJobStatus(IN_PROGRESS): %v", err)
	}
	f.verify(t)
	if j.Status != job.StatusIN_PROGRESS {
		t.Fatalf("job is %s after updateJobStatus(IN_PROGRESS)", j.Status)
	}
}

func (f *fixture) complete(t *testing.T, c actor, jobID pulid.ID) *market.CompleteJobResult {
	t.Helper()
	res, err := f.m.CompleteJob(f.ctx, c.V, jobID)
	if err != nil {
		t.Fatalf("completeJob: %v", err)
	}
	f.verify(t)
	return res
}

// awaitingRelease takes a fresh job for c and k from posting to a
// requested release (REQUIRE_RELEASE_APPROVAL on) and returns its contract.
func (f *fixture) awaitingRelease(t *testing.T, c, k actor) *ent.Contract {
	t.Helper()
	j := f.createJob(t, c)
	a := f.apply(t, k, j.ID)
	o := f.sendOffer(t, c, a.ID, hundred)
	acc := f.accept(t, k, o.Offer.ID)
	f.start(t, k, j.ID)
	done := f.complete(t, c, j.ID)
	if !done.AwaitingApproval || done.Escrow.Status != escrow.StatusRELEASE_REQUESTED {
		t.Fatalf("completeJob: awaiting %v, escrow %s; want true, RELEASE_REQUESTED", done.AwaitingApproval, done.Escrow.Status)
	}
	return acc.Contract
}

func (f *fixture) wallet(t *testing.T, u actor) *ent.Wallet {
	t.Helper()
	w, err := f.ledger.Wallet(f.ctx, u.ID)
	if err != nil {
		t.Fatalf("wallet: %v", err)
	}
	return w
}

// requireWallet checks a user's available and escrow balances.
func (f *fixture) requireWallet(t *testing.T, u actor, balance, escrowBalance int64) *ent.Wallet {
	t.Helper()
	w := f.wallet(t, u)
	if w.Balance != balance || w.EscrowBalance != escrowBalance {
		t.Errorf("wallet of %s: balance %d, escrow %d; want %d, %d", u.V.Role, w.Balance, w.EscrowBalance, balance, escrowBalance)
	}
	return w
}

func (f *fixture) requireRevenue(t *testing.T, want int64) {
	t.Helper()
	if got := f.verify(t).Revenue; got != want {
		t.Errorf("revenue %d, want %d", got, want)
	}
}

func (f *fixture) job(t *testing.T, id pulid.ID) *ent.Job {
	t.Helper()
	j, err := f.client.Job.Get(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *fixture) requireJob(t *testing.T, id pulid.ID, want job.Status) {
	t.Helper()
	if got := f.job(t, id).Status; got != want {
		t.Errorf("job is %s, want %s", got, want)
	}
}

func (f *fixture) requireApplication(t *testing.T, id pulid.ID, want jobapplication.Status) {
	t.Helper()
	a, err := f.client.JobApplication.Get(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != want {
		t.Errorf("application is %s, want %s", a.Status, want)
	}
}

func (f *fixture) requireOffer(t *testing.T, id pulid.ID, want offer.Status) *ent.Offer {
	t.Helper()
	o, err := f.client.Offer.Get(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != want {
		t.Errorf("offer is %s, want %s", o.Status, want)
	}
	return o
}

// contractOf returns the job's contract with its escrow.
func (f *fixture) contractOf(t *testing.T, jobID pulid.ID) *ent.Contract {
	t.Helper()
	c, err := f.client.Contract.Query().Where(contract.JobID(jobID)).WithEscrow().Only(f.ctx)
	if err != nil {
		t.Fatalf("contract of job: %v", err)
	}
	if c.Edges.Escrow == nil {
		t.Fatal("contract has no escrow")
	}
	return c
}

func (f *fixture) requireContract(t *testing.T, jobID pulid.ID, cs contract.Status, es escrow.Status) {
	t.Helper()
	c := f.contractOf(t, jobID)
	if c.Status != cs || c.Edges.Escrow.Status != es {
		t.Errorf("contract %s with escrow %s; want %s with %s", c.Status, c.Edges.Escrow.Status, cs, es)
	}
}

// snapshot is everything a refused call must leave alone: every wallet,
// every status, the number of ledger transactions and the revenue.
func (f *fixture) snapshot(t *testing.T) map[string]string {
	t.Helper()
	ctx, c := f.ctx, f.client
	s := map[string]string{}
	ws, err := c.Wallet.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		s["wallet "+string(w.UserID)] = fmt.Sprintf("balance %d escrow %d spent %d earned %d frozen %v",
			w.Balance, w.EscrowBalance, w.TotalSpent, w.TotalEarnings, w.IsFrozen)
	}
	jobs, err := c.Job.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		s["job "+string(j.ID)] = fmt.Sprintf("%s contractor %v", j.Status, j.ContractorID != nil)
	}
	apps, err := c.JobApplication.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		s["application "+string(a.ID)] = string(a.Status)
	}
	offers, err := c.Offer.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range offers {
		s["offer "+string(o.ID)] = string(o.Status)
	}
	contracts, err := c.Contract.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range contracts {
		s["contract "+string(k.ID)] = string(k.Status)
	}
	escrows, err := c.Escrow.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range escrows {
		s["escrow "+string(e.ID)] = string(e.Status)
	}
	n, err := c.LedgerTransaction.Query().Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s["ledger transactions"] = fmt.Sprint(n)
	s["revenue"] = fmt.Sprint(f.verify(t).Revenue)
	return s
}

func requireUnchanged(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(before))
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if before[k] != after[k] {
			t.Errorf("%s changed %s: %q → %q", what, k, before[k], after[k])
		}
	}
}

// refused runs a call that must fail with code (and, when msg is not
// empty, exactly that message) and change nothing; the ledger verifies.
func (f *fixture) refused(t *testing.T, what string, code jobsphere.Code, msg string, call func() error) *jobsphere.Error {
	t.Helper()
	before := f.snapshot(t)
	err := call()
	e := requireError(t, what, err, code, msg)
	requireUnchanged(t, what, before, f.snapshot(t))
	return e
}

func requireError(t *testing.T, what string, err error, code jobsphere.Code, msg string) *jobsphere.Error {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %s", what, code)
		return nil
	}
	var e *jobsphere.Error
	if !errors.As(err, &e) {
		t.Errorf("%s: error %v (%T) is not a *jobsphere.Error (code %s), want %s", what, err, err, jobsphere.ErrorCode(err), code)
		return nil
	}
	if got := jobsphere.ErrorCode(err); got != code {
		t.Errorf("%s: error %v has code %s, want %s", what, err, got, code)
	}
	if msg != "" && e.Message != msg {
		t.Errorf("%s: message %q, want %q", what, e.Message, msg)
	}
	return e
}

func requireFields(t *testing.T, what string, e *jobsphere.Error, want ...string) {
	t.Helper()
	if e == nil {
		return
	}
	var got []string
	for _, fe := range e.Fields {
		got = append(got, fe.Field)
		if fe.Message == "" {
			t.Errorf("%s: field %s has no message", what, fe.Field)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: fields %v, want %v", what, got, want)
	}
}

// ---------------------------------------------------------------------
// 1. The hundred-dollar job, from posting to payout.

func TestHundredDollarJob(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		t.Run("release approved by an admin", func(t *testing.T) {
			hundredDollarJob(t, newFixture(t, db), true)
		})
		t.Run("REQUIRE_RELEASE_APPROVAL=false releases at once", func(t *testing.T) {
			hundredDollarJob(t, newFixture(t, db, func(c *market.Config) { c.RequireReleaseApproval = false }), false)
		})
	})
}

func hundredDollarJob(t *testing.T, f *fixture, approval bool) {
	cust := f.customer(t, 20000)
	con, other := f.contractor(t), f.contractor(t)
	admin := f.admin(t)

	j := f.createJob(t, cust)
	otherApp := f.apply(t, other, j.ID)
	app := f.apply(t, con, j.ID)

	sent := f.sendOffer(t, cust, app.ID, hundred)
	if sent.Amounts != hundredSplit {
		t.Errorf("sendOffer amounts %+v, want %+v", sent.Amounts, hundredSplit)
	}
	if sent.Wallet.Balance != 20000-charge || sent.Wallet.EscrowBalance != charge {
		t.Errorf("sendOffer wallet: balance %d, escrow %d; want %d, %d", sent.Wallet.Balance, sent.Wallet.EscrowBalance, 20000-charge, charge)
	}
	o := sent.Offer
	if o.Amount != hundred || o.PlatformFee != platformFee || o.ServiceFee != serviceFee ||
		o.ContractorPayout != payout || o.TotalCharge != charge || o.ContractorID != con.ID || o.CustomerID != cust.ID {
		t.Errorf("offer %+v does not carry the deal", o)
	}
	f.requireWallet(t, cust, 20000-charge, charge)
	f.requireApplication(t, app.ID, jobapplication.StatusOFFERED)
	f.requireApplication(t, otherApp.ID, jobapplication.StatusPENDING)
	f.requireRevenue(t, 0)

	acc := f.accept(t, con, o.ID)
	f.requireRevenue(t, platformFee)
	if acc.Job.Status != job.StatusASSIGNED || acc.Job.ContractorID == nil || *acc.Job.ContractorID != con.ID {
		t.Errorf("accepted job: status %s, contractor %v; want ASSIGNED, %s", acc.Job.Status, acc.Job.ContractorID, con.ID)
	}
	if acc.Offer.Status != offer.StatusACCEPTED || acc.Offer.AcceptedAt == nil {
		t.Errorf("accepted offer: status %s, acceptedAt %v", acc.Offer.Status, acc.Offer.AcceptedAt)
	}
	if acc.Payment != hundredSplit {
		t.Errorf("acceptOffer payment %+v, want %+v", acc.Payment, hundredSplit)
	}
	c := f.contractOf(t, j.ID)
	if acc.Contract == nil || acc.Contract.ID != c.ID {
		t.Errorf("acceptOffer returned contract %v, the job's is %s", acc.Contract, c.ID)
	}
	if c.CustomerID != cust.ID || c.ContractorID != con.ID || c.OfferID == nil || *c.OfferID != o.ID || c.Status != contract.StatusACTIVE {
		t.Errorf("contract %+v: want ACTIVE between the customer and the contractor for the offer", c)
	}
	esc := c.Edges.Escrow
	if esc.Status != escrow.StatusFUNDED || esc.FundingSource != escrow.FundingSourceWALLET || esc.Amount != hundred ||
		esc.PlatformFee != platformFee || esc.ServiceFee != serviceFee || esc.FreelancerEarning != payout {
		t.Errorf("escrow %+v: want a FUNDED WALLET escrow of the deal", esc)
	}
	f.requireApplication(t, app.ID, jobapplication.StatusACCEPTED)
	f.requireApplication(t, otherApp.ID, jobapplication.StatusREJECTED)
	f.requireWallet(t, cust, 20000-charge, hundred)

	f.start(t, con, j.ID)
	f.requireJob(t, j.ID, job.StatusIN_PROGRESS)

	done := f.complete(t, cust, j.ID)
	if done.Payment != hundredSplit {
		t.Errorf("completeJob payment %+v, want %+v", done.Payment, hundredSplit)
	}
	if approval {
		if !done.AwaitingApproval || done.Escrow.Status != escrow.StatusRELEASE_REQUESTED {
			t.Fatalf("completeJob: awaiting %v, escrow %s; want true, RELEASE_REQUESTED", done.AwaitingApproval, done.Escrow.Status)
		}
		f.requireWallet(t, con, 0, 0)
		f.requireWallet(t, cust, 20000-charge, hundred)
		f.requireRevenue(t, platformFee)

		released, err := f.m.ApproveFundRelease(f.ctx, admin.V, c.ID)
		if err != nil {
			t.Fatalf("approveFundRelease: %v", err)
		}
		f.verify(t)
		if released.Status != escrow.StatusRELEASED || released.ReleasedAt == nil {
			t.Errorf("approved escrow: %s, releasedAt %v; want RELEASED", released.Status, released.ReleasedAt)
		}
		f.refused(t, "second approveFundRelease", jobsphere.Conflict, "Escrow is RELEASED", func() error {
			_, err := f.m.ApproveFundRelease(f.ctx, admin.V, c.ID)
			return err
		})
	} else {
		if done.AwaitingApproval || done.Escrow.Status != escrow.StatusRELEASED || done.Job.Status != job.StatusCOMPLETED {
			t.Errorf("completeJob: awaiting %v, escrow %s, job %s; want false, RELEASED, COMPLETED",
				done.AwaitingApproval, done.Escrow.Status, done.Job.Status)
		}
	}

	cw := f.requireWallet(t, con, payout, 0)
	if cw.TotalEarnings != payout {
		t.Errorf("contractor totalEarnings %d, want %d", cw.TotalEarnings, payout)
	}
	uw := f.requireWallet(t, cust, 20000-charge, 0)
	if uw.TotalSpent != charge {
		t.Errorf("customer totalSpent %d, want %d", uw.TotalSpent, charge)
	}
	f.requireWallet(t, other, 0, 0)
	f.requireRevenue(t, platformFee+serviceFee)
	f.requireJob(t, j.ID, job.StatusCOMPLETED)
	if f.job(t, j.ID).CompletedAt == nil {
		t.Error("completed job has no completedAt")
	}
	f.requireContract(t, j.ID, contract.StatusCOMPLETED, escrow.StatusRELEASED)

	// Once paid out, nothing comes back.
	f.refused(t, "cancelJob after payout", jobsphere.Conflict, "", func() error {
		_, err := f.m.CancelJob(f.ctx, cust.V, j.ID, nil)
		return err
	})
	f.refused(t, "completeJob twice", jobsphere.Conflict, "", func() error {
		_, err := f.m.CompleteJob(f.ctx, cust.V, j.ID)
		return err
	})
}

// ---------------------------------------------------------------------
// 2. Every way an offer ends without a payout returns the whole hold.

func TestOfferEndingsReturnTheHold(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		const funded = 20000

		// setup gives each ending its own customer, contractor, job and
		// pending offer, and checks the hold.
		setup := func(t *testing.T) (cust, con actor, j *ent.Job, app *ent.JobApplication, o *ent.Offer) {
			t.Helper()
			cust, con = f.customer(t, funded), f.contractor(t)
			j = f.createJob(t, cust)
			app = f.apply(t, con, j.ID)
			o = f.sendOffer(t, cust, app.ID, hundred).Offer
			f.requireWallet(t, cust, funded-charge, charge)
			return cust, con, j, app, o
		}
		returned := func(t *testing.T, cust actor) {
			t.Helper()
			w := f.requireWallet(t, cust, funded, 0)
			if w.TotalSpent != 0 {
				t.Errorf("customer totalSpent %d after the hold came back, want 0", w.TotalSpent)
			}
		}

		t.Run("rejected by the contractor", func(t *testing.T) {
			cust, con, j, app, o := setup(t)
			reason := "  Too busy this month  "
			res, err := f.m.RejectOffer(f.ctx, con.V, o.ID, &reason)
			if err != nil {
				t.Fatalf("rejectOffer: %v", err)
			}
			f.verify(t)
			if res.RefundAmount != charge {
				t.Errorf("rejectOffer refund %d, want %d", res.RefundAmount, charge)
			}
			if res.Offer.Status != offer.StatusREJECTED || res.Offer.RejectedAt == nil ||
				res.Offer.RejectionReason == nil || *res.Offer.RejectionReason != "Too busy this month" {
				t.Errorf("rejected offer: status %s, rejectedAt %v, reason %v", res.Offer.Status, res.Offer.RejectedAt, res.Offer.RejectionReason)
			}
			returned(t, cust)
			f.requireApplication(t, app.ID, jobapplication.StatusPENDING)
			f.requireJob(t, j.ID, job.StatusOPEN)

			// The ended offer can't be ended again, or accepted.
			f.refused(t, "rejectOffer twice", jobsphere.Conflict, "Offer is REJECTED", func() error {
				_, err := f.m.RejectOffer(f.ctx, con.V, o.ID, nil)
				return err
			})
			f.refused(t, "acceptOffer after reject", jobsphere.Conflict, "Offer is REJECTED", func() error {
				_, err := f.m.AcceptOffer(f.ctx, con.V, o.ID)
				return err
			})

			// A new offer can be sent on the same application.
			again := f.sendOffer(t, cust, app.ID, 12000)
			f.requireWallet(t, cust, funded-12600, 12600)
			f.requireApplication(t, app.ID, jobapplication.StatusOFFERED)
			// Withdrawn, so no pending offer is left for the expiry below.
			if _, err := f.m.WithdrawOffer(f.ctx, cust.V, again.Offer.ID); err != nil {
				t.Fatalf("withdrawOffer: %v", err)
			}
			f.verify(t)
			returned(t, cust)
		})

		t.Run("withdrawn by the customer", func(t *testing.T) {
			cust, con, j, app, o := setup(t)
			res, err := f.m.WithdrawOffer(f.ctx, cust.V, o.ID)
			if err != nil {
				t.Fatalf("withdrawOffer: %v", err)
			}
			f.verify(t)
			if res.RefundAmount != charge || res.Offer.Status != offer.StatusWITHDRAWN {
				t.Errorf("withdrawOffer: refund %d, offer %s; want %d, WITHDRAWN", res.RefundAmount, res.Offer.Status, charge)
			}
			returned(t, cust)
			f.requireApplication(t, app.ID, jobapplication.StatusPENDING)
			f.requireJob(t, j.ID, job.StatusOPEN)
			f.refused(t, "acceptOffer after withdraw", jobsphere.Conflict, "Offer is WITHDRAWN", func() error {
				_, err := f.m.AcceptOffer(f.ctx, con.V, o.ID)
				return err
			})
		})

		t.Run("expired", func(t *testing.T) {
			t.Cleanup(func() { f.m.SetClock(time.Now) })
			cust, con, j, app, o := setup(t)
			n, err := f.m.ExpireOffers(f.ctx)
			if err != nil || n != 0 {
				t.Fatalf("ExpireOffers before expiry: %d, %v; want 0", n, err)
			}
			f.verify(t)
			f.requireOffer(t, o.ID, offer.StatusPENDING)

			past := o.ExpiresAt.Add(time.Minute)
			f.m.SetClock(func() time.Time { return past })
			// Past its expiry an offer can't be accepted, swept or not.
			f.refused(t, "acceptOffer after expiry", jobsphere.Conflict, "Offer is EXPIRED", func() error {
				_, err := f.m.AcceptOffer(f.ctx, con.V, o.ID)
				return err
			})

			n, err = f.m.ExpireOffers(f.ctx)
			if err != nil || n != 1 {
				t.Fatalf("ExpireOffers: %d, %v; want 1", n, err)
			}
			f.verify(t)
			f.requireOffer(t, o.ID, offer.StatusEXPIRED)
			returned(t, cust)
			f.requireApplication(t, app.ID, jobapplication.StatusPENDING)
			f.requireJob(t, j.ID, job.StatusOPEN)

			n, err = f.m.ExpireOffers(f.ctx)
			if err != nil || n != 0 {
				t.Fatalf("second ExpireOffers: %d, %v; want 0", n, err)
			}
			f.verify(t)
			returned(t, cust)
		})

		t.Run("job cancelled after accept", func(t *testing.T) {
			revenue := f.verify(t).Revenue
			cust, con, j, _, o := setup(t)
			f.accept(t, con, o.ID)
			f.requireRevenue(t, revenue+platformFee)
			f.requireWallet(t, cust, funded-charge, hundred)

			reason := "Plans changed"
			res, err := f.m.CancelJob(f.ctx, cust.V, j.ID, &reason)
			if err != nil {
				t.Fatalf("cancelJob: %v", err)
			}
			f.verify(t)
			if res.RefundAmount != charge {
				t.Errorf("cancelJob refund %d, want %d", res.RefundAmount, charge)
			}
			if res.Job.Status != job.StatusCANCELLED || res.Job.CancelledAt == nil {
				t.Errorf("cancelled job: %s, cancelledAt %v", res.Job.Status, res.Job.CancelledAt)
			}
			returned(t, cust)
			f.requireWallet(t, con, 0, 0)
			f.requireRevenue(t, revenue)
			f.requireJob(t, j.ID, job.StatusCANCELLED)
			f.requireContract(t, j.ID, contract.StatusCANCELLED, escrow.StatusREFUNDED)
			f.refused(t, "cancelJob twice", jobsphere.Conflict, "Job is CANCELLED and cannot be cancelled", func() error {
				_, err := f.m.CancelJob(f.ctx, cust.V, j.ID, nil)
				return err
			})
		})

		t.Run("job cancelled before accept", func(t *testing.T) {
			cust, con, j, _, o := setup(t)
			res, err := f.m.CancelJob(f.ctx, cust.V, j.ID, nil)
			if err != nil {
				t.Fatalf("cancelJob: %v", err)
			}
			f.verify(t)
			if res.RefundAmount != charge || res.Job.Status != job.StatusCANCELLED {
				t.Errorf("cancelJob: refund %d, job %s; want %d, CANCELLED", res.RefundAmount, res.Job.Status, charge)
			}
			f.requireOffer(t, o.ID, offer.StatusWITHDRAWN)
			returned(t, cust)
			f.refused(t, "acceptOffer on a cancelled job", jobsphere.Conflict, "Offer is WITHDRAWN", func() error {
				_, err := f.m.AcceptOffer(f.ctx, con.V, o.ID)
				return err
			})
		})

		t.Run("cancelled by an admin with no offer", func(t *testing.T) {
			cust := f.customer(t, funded)
			j := f.createJob(t, cust)
			res, err := f.m.CancelJob(f.ctx, f.admin(t).V, j.ID, nil)
			if err != nil {
				t.Fatalf("cancelJob by admin: %v", err)
			}
			f.verify(t)
			if res.RefundAmount != 0 || res.Job.Status != job.StatusCANCELLED {
				t.Errorf("cancelJob: refund %d, job %s; want 0, CANCELLED", res.RefundAmount, res.Job.Status)
			}
			returned(t, cust)
		})
	})
}

// ---------------------------------------------------------------------
// 3. Validation and state errors.

func TestOfferValidationAndConflicts(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		cust := f.customer(t, 20000)
		con, con2, con3 := f.contractor(t), f.contractor(t), f.contractor(t)
		j := f.createJob(t, cust)
		app := f.apply(t, con, j.ID)
		app2 := f.apply(t, con2, j.ID)

		send := func(in market.SendOfferInput) func() error {
			return func() error { _, err := f.m.SendOffer(f.ctx, cust.V, in); return err }
		}
		invalid := []struct {
			name   string
			mutate func(*market.SendOfferInput)
			fields []string
		}{
			{"amount 9.99", func(in *market.SendOfferInput) { in.Amount = 999 }, []string{"amount"}},
			{"amount 10000.01", func(in *market.SendOfferInput) { in.Amount = 1000001 }, []string{"amount"}},
			{"amount 0", func(in *market.SendOfferInput) { in.Amount = 0 }, []string{"amount"}},
			{"amount negative", func(in *market.SendOfferInput) { in.Amount = -10000 }, []string{"amount"}},
			{"empty timeline", func(in *market.SendOfferInput) { in.Timeline = "" }, []string{"timeline"}},
			{"blank timeline", func(in *market.SendOfferInput) { in.Timeline = "   " }, []string{"timeline"}},
			{"timeline of 101 characters", func(in *market.SendOfferInput) { in.Timeline = strings.Repeat("x", 101) }, []string{"timeline"}},
			{"description of 9 characters", func(in *market.SendOfferInput) { in.Description = "123456789" }, []string{"description"}},
			{"description of 9 characters padded", func(in *market.SendOfferInput) { in.Description = "  123456789  " }, []string{"description"}},
			{"everything wrong", func(in *market.SendOfferInput) { in.Amount, in.Timeline, in.Description = 999, "", "short" },
				[]string{"amount", "timeline", "description"}},
		}
		for _, tc := range invalid {
			in := offerInput(app.ID, hundred)
			tc.mutate(&in)
			e := f.refused(t, tc.name, jobsphere.BadUserInput, "", send(in))
			requireFields(t, tc.name, e, tc.fields...)
		}
		f.requireWallet(t, cust, 20000, 0)
		f.requireApplication(t, app.ID, jobapplication.StatusPENDING)

		// The limits themselves are valid: 100 characters of timeline, 10
		// of description.
		in := offerInput(app.ID, hundred)
		in.Timeline, in.Description = strings.Repeat("t", 100), "0123456789"
		first, err := f.m.SendOffer(f.ctx, cust.V, in)
		if err != nil {
			t.Fatalf("sendOffer at the limits: %v", err)
		}
		f.verify(t)
		f.requireWallet(t, cust, 20000-charge, charge)

		// One live offer per job, whichever application.
		const exists = "An offer already exists for this job"
		f.refused(t, "second offer, other application", jobsphere.Conflict, exists, send(offerInput(app2.ID, hundred)))
		f.refused(t, "second offer, same application", jobsphere.Conflict, exists, send(offerInput(app.ID, hundred)))
		f.requireApplication(t, app2.ID, jobapplication.StatusPENDING)

		f.accept(t, con, first.Offer.ID)
		f.refused(t, "acceptOffer twice", jobsphere.Conflict, "Offer is ACCEPTED", func() error {
			_, err := f.m.AcceptOffer(f.ctx, con.V, first.Offer.ID)
			return err
		})
		f.refused(t, "rejectOffer after accept", jobsphere.Conflict, "Offer is ACCEPTED", func() error {
			_, err := f.m.RejectOffer(f.ctx, con.V, first.Offer.ID, nil)
			return err
		})
		f.refused(t, "withdrawOffer after accept", jobsphere.Conflict, "Offer is ACCEPTED", func() error {
			_, err := f.m.WithdrawOffer(f.ctx, cust.V, first.Offer.ID)
			return err
		})
		f.refused(t, "offer on an assigned job", jobsphere.Conflict, "Job is not open for offers", send(offerInput(app2.ID, hundred)))
		f.refused(t, "apply to an assigned job", jobsphere.Conflict, "", func() error {
			_, err := f.m.Apply(f.ctx, con3.V, market.ApplyInput{JobID: j.ID})
			return err
		})

		// Applying twice.
		j2 := f.createJob(t, cust)
		f.apply(t, con, j2.ID)
		f.refused(t, "apply twice", jobsphere.Conflict, "You have already applied to this job", func() error {
			_, err := f.m.Apply(f.ctx, con.V, market.ApplyInput{JobID: j2.ID})
			return err
		})

		// updateJobStatus refuses every move but IN_PROGRESS, naming the
		// job's current status.
		moves := func(j *ent.Job, current job.Status, who actor, to ...job.Status) {
			for _, s := range to {
				what := fmt.Sprintf("updateJobStatus %s → %s", current, s)
				e := f.refused(t, what, jobsphere.Conflict, "", func() error {
					_, err := f.m.UpdateJobStatus(f.ctx, who.V, j.ID, s)
					return err
				})
				if e != nil && !strings.Contains(e.Message, "Job is "+string(current)) {
					t.Errorf("%s: message %q does not name the current status %s", what, e.Message, current)
				}
			}
		}
		moves(j2, job.StatusOPEN, cust, job.StatusCOMPLETED, job.StatusASSIGNED, job.StatusOPEN, job.StatusIN_PROGRESS)
		moves(j, job.StatusASSIGNED, cust, job.StatusCOMPLETED, job.StatusASSIGNED, job.StatusOPEN)
		moves(j, job.StatusASSIGNED, con, job.StatusCOMPLETED, job.StatusASSIGNED, job.StatusOPEN)
		f.refused(t, "completeJob on an ASSIGNED job", jobsphere.Conflict, "", func() error {
			_, err := f.m.CompleteJob(f.ctx, cust.V, j.ID)
			return err
		})
		f.start(t, cust, j.ID)
		moves(j, job.StatusIN_PROGRESS, con, job.StatusCOMPLETED, job.StatusASSIGNED, job.StatusOPEN, job.StatusIN_PROGRESS)
		f.refused(t, "completeJob on a job without contract", jobsphere.Conflict, "", func() error {
			_, err := f.m.CompleteJob(f.ctx, cust.V, j2.ID)
			return err
		})

		// Not enough money: the seeds' message, and nothing is left behind.
		poor := f.customer(t, 5000)
		j3 := f.createJob(t, poor)
		app3 := f.apply(t, con, j3.ID)
		e := f.refused(t, "offer beyond the balance", jobsphere.InsufficientFunds,
			"Insufficient balance. Required: $105.00, Available: $50.00", func() error {
				_, err := f.m.SendOffer(f.ctx, poor.V, offerInput(app3.ID, hundred))
				return err
			})
		requireFields(t, "offer beyond the balance", e, "amount")
		n, err := f.client.Offer.Query().Where(offer.JobID(j3.ID)).Count(f.ctx)
		if err != nil || n != 0 {
			t.Errorf("offers on the job after the refusal: %d, %v; want 0", n, err)
		}
		f.requireApplication(t, app3.ID, jobapplication.StatusPENDING)
		f.requireWallet(t, poor, 5000, 0)
		// With the rest of the money, the same offer goes through.
		f.fund(t, poor.ID, charge-5000)
		f.verify(t)
		f.sendOffer(t, poor, app3.ID, hundred)
		f.requireWallet(t, poor, 0, charge)

		// The smallest and the largest offers are allowed.
		rich := f.customer(t, 1050000+1050)
		for _, amount := range []int64{1000, 1000000} {
			jx := f.createJob(t, rich)
			ax := f.apply(t, con, jx.ID)
			res := f.sendOffer(t, rich, ax.ID, amount)
			if res.Offer.TotalCharge != amount+amount/20 {
				t.Errorf("offer of %d holds %d, want %d", amount, res.Offer.TotalCharge, amount+amount/20)
			}
		}
		f.requireWallet(t, rich, 0, 1050000+1050)
	})
}

// ---------------------------------------------------------------------
// 4. Authorization: the wrong role, and the right role but not a party.

func TestMarketAuthorization(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		f := newFixture(t, db)
		cust, otherCust := f.customer(t, 20000), f.customer(t, 20000)
		con, otherCon, rejected := f.contractor(t), f.contractor(t), f.contractor(t)
		admin := f.admin(t)
		forbidden := func(what string, call func() error) {
			t.Helper()
			f.refused(t, what, jobsphere.Forbidden, "", call)
		}
		cancelBy := func(who actor, id pulid.ID) func() error {
			return func() error { _, err := f.m.CancelJob(f.ctx, who.V, id, nil); return err }
		}
		moveBy := func(who actor, id pulid.ID, to job.Status) func() error {
			return func() error { _, err := f.m.UpdateJobStatus(f.ctx, who.V, id, to); return err }
		}
		completeBy := func(who actor, id pulid.ID) func() error {
			return func() error { _, err := f.m.CompleteJob(f.ctx, who.V, id); return err }
		}

		// Posting and applying.
		for _, who := range []actor{con, admin} {
			forbidden("createJob by "+string(who.V.Role), func() error {
				_, err := f.m.CreateJob(f.ctx, who.V, market.CreateJobInput{Title: "Paint a fence", Description: "Two coats, white, 20 metres.", Budget: hundred})
				return err
			})
		}
		j := f.createJob(t, cust)
		for _, who := range []actor{cust, admin} {
			forbidden("apply by "+string(who.V.Role), func() error {
				_, err := f.m.Apply(f.ctx, who.V, market.ApplyInput{JobID: j.ID})
				return err
			})
		}
		app := f.apply(t, con, j.ID)
		rejectedApp := f.apply(t, rejected, j.ID)

		// An open job without an offer.
		for name, who := range map[string]actor{"contractor": con, "admin": admin, "other customer": otherCust} {
			forbidden("sendOffer by "+name, func() error {
				_, err := f.m.SendOffer(f.ctx, who.V, offerInput(app.ID, hundred))
				return err
			})
		}
		for name, who := range map[string]actor{"applicant": con, "other customer": otherCust, "other contractor": otherCon} {
			forbidden("completeJob of an open job by "+name, completeBy(who, j.ID))
			forbidden("cancelJob of an open job by "+name, cancelBy(who, j.ID))
			forbidden("updateJobStatus(CANCELLED) of an open job by "+name, moveBy(who, j.ID, job.StatusCANCELLED))
		}
		for name, who := range map[string]actor{"applicant": con, "admin": admin, "other customer": otherCust} {
			forbidden("updateJobStatus(IN_PROGRESS) of an open job by "+name, moveBy(who, j.ID, job.StatusIN_PROGRESS))
		}

		// A pending offer.
		o := f.sendOffer(t, cust, app.ID, hundred).Offer
		for name, who := range map[string]actor{"customer": cust, "admin": admin, "other contractor": otherCon, "other applicant": rejected} {
			forbidden("acceptOffer by "+name, func() error { _, err := f.m.AcceptOffer(f.ctx, who.V, o.ID); return err })
			forbidden("rejectOffer by "+name, func() error { _, err := f.m.RejectOffer(f.ctx, who.V, o.ID, nil); return err })
		}
		for name, who := range map[string]actor{"contractor": con, "admin": admin, "other customer": otherCust} {
			forbidden("withdrawOffer by "+name, func() error { _, err := f.m.WithdrawOffer(f.ctx, who.V, o.ID); return err })
		}
		for name, who := range map[string]actor{"contractor": con, "other customer": otherCust, "other contractor": otherCon} {
			forbidden("cancelJob with a pending offer by "+name, cancelBy(who, j.ID))
		}
		f.requireWallet(t, cust, 20000-charge, charge)

		// An assigned job.
		acc := f.accept(t, con, o.ID)
		f.requireApplication(t, rejectedApp.ID, jobapplication.StatusREJECTED)
		ctr := acc.Contract.ID
		requestBy := func(who actor) func() error {
			return func() error { _, err := f.m.RequestFundRelease(f.ctx, who.V, ctr); return err }
		}
		approveBy := func(who actor) func() error {
			return func() error { _, err := f.m.ApproveFundRelease(f.ctx, who.V, ctr); return err }
		}
		for name, who := range map[string]actor{"admin": admin, "other customer": otherCust, "other contractor": otherCon, "rejected applicant": rejected} {
			forbidden("updateJobStatus(IN_PROGRESS) of an assigned job by "+name, moveBy(who, j.ID, job.StatusIN_PROGRESS))
		}
		for name, who := range map[string]actor{"other customer": otherCust, "other contractor": otherCon, "rejected applicant": rejected} {
			forbidden("updateJobStatus(COMPLETED) by "+name, moveBy(who, j.ID, job.StatusCOMPLETED))
		}
		for name, who := range map[string]actor{"contractor": con, "other customer": otherCust, "other contractor": otherCon} {
			forbidden("cancelJob of an assigned job by "+name, cancelBy(who, j.ID))
			forbidden("updateJobStatus(CANCELLED) of an assigned job by "+name, moveBy(who, j.ID, job.StatusCANCELLED))
		}
		for name, who := range map[string]actor{"contractor": con, "admin": admin, "other customer": otherCust} {
			forbidden("completeJob of an assigned job by "+name, completeBy(who, j.ID))
			forbidden("requestFundRelease by "+name, requestBy(who))
		}
		for name, who := range map[string]actor{"customer": cust, "contractor": con, "other customer": otherCust, "other contractor": otherCon} {
			forbidden("approveFundRelease of a funded escrow by "+name, approveBy(who))
		}

		// In progress, then a requested release.
		f.start(t, con, j.ID)
		for name, who := range map[string]actor{"contractor": con, "admin": admin, "other customer": otherCust} {
			forbidden("completeJob in progress by "+name, completeBy(who, j.ID))
		}
		f.complete(t, cust, j.ID)
		for name, who := range map[string]actor{"customer": cust, "contractor": con, "other customer": otherCust, "other contractor": otherCon} {
			forbidden("approveFundRelease by "+name, approveBy(who))
		}
		for name, who := range map[string]actor{"contractor": con, "other customer": otherCust, "other contractor": otherCon} {
			forbidden("cancelJob awaiting release by "+name, cancelBy(who, j.ID))
		}
		f.requireWallet(t, cust, 20000-charge, hundred)
		f.requireWallet(t, con, 0, 0)
		f.requireRevenue(t, platformFee)

		// The right party still can.
		if _, err := f.m.ApproveFundRelease(f.ctx, admin.V, ctr); err != nil {
			t.Fatalf("approveFundRelease by an admin: %v", err)
		}
		f.verify(t)
		f.requireWallet(t, con, payout, 0)
		f.requireWallet(t, otherCust, 20000, 0)
		f.requireWallet(t, otherCon, 0, 0)
		f.requireWallet(t, rejected, 0, 0)
		f.requireRevenue(t, platformFee+serviceFee)
	})
}

// ---------------------------------------------------------------------
// 5. Concurrency.

// raceAll runs fn(0) … fn(n-1) in n goroutines held at one start barrier,
// so they really race, and returns each one's error.
func raceAll(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func TestMarketRacesPostgres(t *testing.T) {
	dbtest.RequirePostgres(t)
	t.Run("two approvals", func(t *testing.T) {
		raceApprovals(t, newFixture(t, dbtest.Postgres), 8)
	})
	t.Run("cancel against approval", func(t *testing.T) {
		raceCancelAndRelease(t, newFixture(t, dbtest.Postgres), 8)
	})
	t.Run("offers drain one wallet", func(t *testing.T) {
		raceOffers(t, newFixture(t, dbtest.Postgres), 50, 20)
	})
}

func TestMarketRacesSQLite(t *testing.T) {
	t.Run("two approvals", func(t *testing.T) {
		raceApprovals(t, newFixture(t, dbtest.SQLite), 2)
	})
	t.Run("cancel against approval", func(t *testing.T) {
		raceCancelAndRelease(t, newFixture(t, dbtest.SQLite), 2)
	})
	t.Run("offers drain one wallet", func(t *testing.T) {
		raceOffers(t, newFixture(t, dbtest.SQLite), 10, 4)
	})
}

// raceApprovals: two admins approve one release at once, rounds times;
// exactly one wins each time and the contractor is paid once.
func raceApprovals(t *testing.T, f *fixture, rounds int) {
	a1, a2 := f.admin(t), f.admin(t)
	for r := range rounds {
		cust, con := f.customer(t, charge), f.contractor(t)
		ctr := f.awaitingRelease(t, cust, con)
		admins := []actor{a1, a2}
		errs := raceAll(2, func(i int) error {
			_, err := f.m.ApproveFundRelease(f.ctx, admins[i].V, ctr.ID)
			return err
		})
		f.verify(t)
		won := 0
		for i, err := range errs {
			if err == nil {
				won++
				continue
			}
			requireError(t, fmt.Sprintf("round %d: losing approval %d", r, i), err, jobsphere.Conflict, "Escrow is RELEASED")
		}
		if won != 1 {
			t.Errorf("round %d: %d approvals succeeded (%v), want exactly 1", r, won, errs)
		}
		w := f.requireWallet(t, con, payout, 0)
		if w.TotalEarnings != payout {
			t.Errorf("round %d: contractor earned %d, want %d", r, w.TotalEarnings, payout)
		}
		f.requireWallet(t, cust, 0, 0)
		f.requireJob(t, ctr.JobID, job.StatusCOMPLETED)
		f.requireContract(t, ctr.JobID, contract.StatusCOMPLETED, escrow.StatusRELEASED)
	}
	f.requireRevenue(t, int64(rounds)*(platformFee+serviceFee))
}

// raceCancelAndRelease: the customer cancels while an admin approves the
// requested release, rounds times; each ends in exactly one outcome.
func raceCancelAndRelease(t *testing.T, f *fixture, rounds int) {
	admin := f.admin(t)
	var funded, revenue int64
	for r := range rounds {
		cust, con := f.customer(t, charge), f.contractor(t)
		funded += charge
		ctr := f.awaitingRelease(t, cust, con)
		errs := raceAll(2, func(i int) error {
			if i == 0 {
				_, err := f.m.CancelJob(f.ctx, cust.V, ctr.JobID, nil)
				return err
			}
			_, err := f.m.ApproveFundRelease(f.ctx, admin.V, ctr.ID)
			return err
		})
		rep := f.verify(t)
		cancelErr, approveErr := errs[0], errs[1]
		switch {
		case cancelErr == nil && approveErr != nil:
			requireError(t, fmt.Sprintf("round %d: approval that lost to the cancel", r), approveErr, jobsphere.Conflict, "Escrow is REFUNDED")
			f.requireWallet(t, cust, charge, 0)
			f.requireWallet(t, con, 0, 0)
			f.requireJob(t, ctr.JobID, job.StatusCANCELLED)
			f.requireContract(t, ctr.JobID, contract.StatusCANCELLED, escrow.StatusREFUNDED)
		case approveErr == nil && cancelErr != nil:
			e := requireError(t, fmt.Sprintf("round %d: cancel that lost to the approval", r), cancelErr, jobsphere.Conflict, "")
			if e != nil && !strings.Contains(e.Message, "COMPLETED") {
				t.Errorf("round %d: cancel refused with %q, which does not name the job's status COMPLETED", r, e.Message)
			}
			revenue += platformFee + serviceFee
			f.requireWallet(t, cust, 0, 0)
			f.requireWallet(t, con, payout, 0)
			f.requireJob(t, ctr.JobID, job.StatusCOMPLETED)
			f.requireContract(t, ctr.JobID, contract.StatusCOMPLETED, escrow.StatusRELEASED)
		default:
			t.Errorf("round %d: cancel %v, approval %v; want exactly one to succeed and the other CONFLICT", r, cancelErr, approveErr)
			c := f.contractOf(t, ctr.JobID)
			if c.Edges.Escrow.Status == escrow.StatusRELEASED {
				revenue += platformFee + serviceFee
			}
			t.Logf("round %d: escrow %s, contract %s, job %s", r, c.Edges.Escrow.Status, c.Status, f.job(t, ctr.JobID).Status)
		}
		// Money is conserved: what came in is in wallets, escrow and revenue.
		if rep.Available+rep.Escrow+rep.Revenue != funded || rep.External != -funded {
			t.Errorf("round %d: available %d + escrow %d + revenue %d, external %d; want %d in, %d out",
				r, rep.Available, rep.Escrow, rep.Revenue, rep.External, funded, -funded)
		}
		if rep.Escrow != 0 {
			t.Errorf("round %d: %d left in escrow", r, rep.Escrow)
		}
		if rep.Revenue != revenue {
			t.Errorf("round %d: revenue %d, want %d", r, rep.Revenue, revenue)
		}
	}
}

// raceOffers: one customer who can afford exactly affordable offers sends
// an offer on each of jobs jobs at once; exactly affordable succeed.
func raceOffers(t *testing.T, f *fixture, jobs, affordable int) {
	cust, con := f.customer(t, int64(affordable)*charge), f.contractor(t)
	apps := make([]*ent.JobApplication, jobs)
	for i := range apps {
		apps[i] = f.apply(t, con, f.createJob(t, cust).ID)
	}
	errs := raceAll(jobs, func(i int) error {
		_, err := f.m.SendOffer(f.ctx, cust.V, offerInput(apps[i].ID, hundred))
		return err
	})
	f.verify(t)
	ok, short := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			f.requireApplication(t, apps[i].ID, jobapplication.StatusOFFERED)
		case jobsphere.ErrorCode(err) == jobsphere.InsufficientFunds:
			short++
			f.requireApplication(t, apps[i].ID, jobapplication.StatusPENDING)
			var e *jobsphere.Error
			if errors.As(err, &e) && !strings.HasPrefix(e.Message, "Insufficient balance. Required: $105.00, Available: $") {
				t.Errorf("offer %d refused with %q", i, e.Message)
			}
		default:
			t.Errorf("offer %d: unexpected error (code %s): %v", i, jobsphere.ErrorCode(err), err)
		}
	}
	if ok != affordable || short != jobs-affordable {
		t.Errorf("%d offers held, %d refused for funds; want %d and %d", ok, short, affordable, jobs-affordable)
	}
	f.requireWallet(t, cust, 0, int64(affordable)*charge)
	n, err := f.client.Offer.Query().Where(offer.StatusEQ(offer.StatusPENDING)).Count(f.ctx)
	if err != nil || n != affordable {
		t.Errorf("pending offers: %d, %v; want %d", n, err, affordable)
	}
}
