package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/jobsphere/jobsphere/app"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/connectaccount"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/review"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/user"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/market"
	"github.com/jobsphere/jobsphere/payments"
)

// seedPassword is the demo accounts' password; printed, never for production.
const seedPassword = "Password123"

// The demo accounts. The newcomer is a contractor who has not onboarded
// to Stripe Connect yet, to try onboarding with.
const (
	adminEmail      = "admin@jobsphere.test"
	customerEmail   = "customer@jobsphere.test"
	contractorEmail = "contractor@jobsphere.test"
	newcomerEmail   = "newcomer@jobsphere.test"
)

// stage is how far along its life a demo job is taken.
type stage int

const (
	stageApplied   stage = iota // OPEN, with the contractor's application
	stageOffered                // OPEN, with a pending offer whose charge is held
	stageAccepted               // ASSIGNED: offer accepted, escrow FUNDED
	stageCompleted              // IN_PROGRESS and completed: the release awaits an admin
	stagePaid                   // COMPLETED: escrow released to the contractor, reviewed
)

// demoJob is one job of the demo world. Amounts are in major units.
type demoJob struct {
	stage                                  stage
	title, description, category, location string
	budget, offer                          int64
	timeline, coverLetter                  string
}

var demoJobs = []demoJob{
	{stage: stageApplied, title: "Fix a leaking kitchen tap",
		description: "The kitchen mixer tap drips constantly; replace the cartridge or the tap.",
		category:    "Plumbing", location: "Brooklyn, NY", budget: 100, offer: 90,
		timeline: "2 days", coverLetter: "Licensed plumber, can come this week."},
	{stage: stageOffered, title: "Paint the living room",
		description: "Two coats on walls and ceiling, about 40 m²; paint is bought already.",
		category:    "Painting", location: "Brooklyn, NY", budget: 300, offer: 250,
		timeline: "5 days", coverLetter: "Ten years of interior painting; I bring drop cloths and tools."},
	{stage: stageAccepted, title: "Assemble a flat-pack wardrobe",
		description: "One three-door wardrobe, boxes on site; fix it to the wall.",
		category:    "Handyman", location: "Queens, NY", budget: 120, offer: 120,
		timeline: "1 day", coverLetter: "I assemble furniture every week and bring wall anchors."},
	{stage: stageCompleted, title: "Build a landing page",
		description: "A one-page site for a bakery: menu, opening hours, map, contact form.",
		category:    "Web development", location: "Remote", budget: 200, offer: 180,
		timeline: "7 days", coverLetter: "Here are three bakery sites I built; responsive and fast."},
	{stage: stagePaid, title: "Design a logo",
		description: "A logo for a small coffee roastery, in colour and black and white, with source files.",
		category:    "Design", location: "Remote", budget: 150, offer: 150,
		timeline: "3 days", coverLetter: "Brand designer; three concepts and two rounds of changes."},
}

// demoReview is the customer's review of the paid job.
const demoReview = "Fast, friendly and the logo is exactly what we wanted."

// demoWorld is what seed made, for the summary.
type demoWorld struct {
	admin, customer, contractor      *ent.User
	newcomer                         *ent.User // a contractor without a Connect account
	deposit                          *ent.Deposit
	connect                          *payments.ConnectStatus
	customerWallet, contractorWallet *ent.Wallet
	jobs                             []seededJob
}

// seededJob is one demo job as it ended up.
type seededJob struct {
	job         *ent.Job
	application *ent.JobApplication
	offer       *ent.Offer
	contract    *ent.Contract
	escrow      *ent.Escrow
	review      *ent.Review
}

// seed makes a demo world so GraphiQL shows something at once: an admin,
// a customer whose wallet was funded by a sandbox Checkout deposit, a
// contractor with a verified Connect account, one who has not onboarded
// yet, and jobs at every stage.
// Everything goes through the services the GraphQL resolvers call, so the
// ledger verifies afterwards. It runs once: a second run finds the world
// and stops; a half-made world (an interrupted run) is refused.
func seed(ctx context.Context, cfg *config.Config, logger *slog.Logger, stdout io.Writer) error {
	if cfg.Production() {
		return fmt.Errorf("seed refuses to run with APP_ENV=production")
	}
	if !cfg.Sandbox() {
		return errors.New("seed pays its deposit and onboards its contractor in the sandbox payments gateway: unset STRIPE_SECRET_KEY to run it")
	}
	app, err := app.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()
	present, err := demoPresent(ctx, app.Client)
	if err != nil || present {
		if err == nil {
			fmt.Fprintln(stdout, "demo data already present")
		}
		return err
	}
	w, err := buildWorld(ctx, app)
	if err != nil {
		// Whatever was made stays; say so if the next run would refuse it.
		_, half := demoPresent(ctx, app.Client)
		return errors.Join(fmt.Errorf("seed: %w", err), half)
	}
	printWorld(stdout, cfg, w)
	return nil
}

// demoPresent reports whether a complete demo world exists. Its last step
// is the customer's review; demo accounts without it are a half-made world,
// which seed refuses rather than adds to.
func demoPresent(ctx context.Context, client *ent.Client) (bool, error) {
	n, err := client.User.Query().Where(user.EmailIn(adminEmail, customerEmail, contractorEmail, newcomerEmail)).Count(ctx)
	if err != nil || n == 0 {
		return false, err
	}
	done, err := client.Review.Query().Where(review.HasClientWith(user.Email(customerEmail))).Exist(ctx)
	if err != nil || done {
		return done, err
	}
	return false, errors.New("demo accounts exist but the demo world is incomplete (an interrupted seed, or one by an older version): " +
		"start from an empty database (remove the SQLite file in DATA_DIR, or use a fresh DATABASE_URL) and run seed again")
}

func buildWorld(ctx context.Context, app *app.App) (*demoWorld, error) {
	var w demoWorld
	var err error
	if w.admin, err = app.Auth.CreateAdmin(ctx, adminEmail, seedPassword, "Demo Admin"); err != nil {
		return nil, err
	}
	if w.customer, err = register(ctx, app.Auth, customerEmail, "Casey Customer", role.Customer); err != nil {
		return nil, err
	}
	if w.contractor, err = register(ctx, app.Auth, contractorEmail, "Robin Contractor", role.Contractor); err != nil {
		return nil, err
	}
	if w.newcomer, err = register(ctx, app.Auth, newcomerEmail, "Noa Newcomer", role.Contractor); err != nil {
		return nil, err
	}
	admin, customer, contractor := viewer(w.admin), viewer(w.customer), viewer(w.contractor)

	if w.deposit, err = fundWallet(ctx, app, customer, depositAmount(app.Config)); err != nil {
		return nil, fmt.Errorf("deposit: %w", err)
	}
	if w.connect, err = onboardContractor(ctx, app, contractor); err != nil {
		return nil, fmt.Errorf("connect onboarding: %w", err)
	}
	p := jobPlayer{app: app, admin: admin, customer: customer, contractor: contractor, unit: pow10(app.Config.Currency.Exponent)}
	for _, d := range demoJobs {
		sj, err := p.play(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("job %q: %w", d.title, err)
		}
		w.jobs = append(w.jobs, sj)
	}
	if w.customerWallet, err = app.Ledger.Wallet(ctx, w.customer.ID); err != nil {
		return nil, err
	}
	if w.contractorWallet, err = app.Ledger.Wallet(ctx, w.contractor.ID); err != nil {
		return nil, err
	}
	return &w, nil
}

func register(ctx context.Context, a *auth.Service, email, name string, r role.Role) (*ent.User, error) {
	s, err := a.Register(ctx, auth.RegisterInput{Email: email, Password: seedPassword, Name: name, Role: r})
	if err != nil {
		return nil, err
	}
	return s.User, nil
}

func viewer(u *ent.User) auth.Viewer { return auth.Viewer{UserID: u.ID, Role: u.Role} }

// depositAmount is a round 1,000 that covers every demo offer's charge
// with some to spare (more if the fee rates or MIN_DEPOSIT ask for it).
func depositAmount(cfg *config.Config) int64 {
	unit := pow10(cfg.Currency.Exponent)
	rates := ledger.Rates{CustomerBPS: cfg.FeeCustomerBPS, ContractorBPS: cfg.FeeContractorBPS}
	need := 100 * unit
	for _, d := range demoJobs {
		if d.stage >= stageOffered {
			if split, err := ledger.Fees(d.offer*unit, rates); err == nil {
				need += split.TotalCharge
			}
		}
	}
	return max(1000*unit, need, cfg.MinDeposit)
}

// fundWallet deposits as a customer does in the app: a Checkout deposit,
// paid with the test card on the sandbox's page (PayCheckout is what that
// page calls). The sandbox's signed checkout.session.completed goes
// through the webhook endpoint, which credits the wallet.
func fundWallet(ctx context.Context, app *app.App, v auth.Viewer, amount int64) (*ent.Deposit, error) {
	res, err := app.Payments.Deposit(ctx, v.UserID, payments.DepositInput{Amount: amount})
	if err != nil {
		return nil, err
	}
	if res.SessionID == nil {
		return nil, errors.New("the deposit has no Checkout session")
	}
	paid, err := app.Sandbox.PayCheckout(ctx, *res.SessionID, "4242 4242 4242 4242")
	if err != nil {
		return nil, err
	}
	if !paid.Paid {
		return nil, fmt.Errorf("the sandbox checkout was not paid: %s", paid.Declined)
	}
	d, err := app.Payments.GetDeposit(ctx, v, res.Deposit.ID)
	if err != nil {
		return nil, err
	}
	if d == nil || d.Status != deposit.StatusSUCCEEDED {
		return nil, fmt.Errorf("deposit %s was paid but not credited", res.Deposit.ID)
	}
	return d, nil
}

// onboardContractor creates the contractor's Connect account and finishes
// its onboarding as verified, as the sandbox's onboarding page does: the
// signed account.updated it sends makes the account VERIFIED.
func onboardContractor(ctx context.Context, app *app.App, v auth.Viewer) (*payments.ConnectStatus, error) {
	ob, err := app.Payments.CreateConnectAccount(ctx, v)
	if err != nil {
		return nil, err
	}
	if err := app.Sandbox.Onboard(ctx, ob.AccountID, true); err != nil {
		return nil, err
	}
	st, err := app.Payments.ConnectAccountStatus(ctx, v)
	if err != nil {
		return nil, err
	}
	if st.Status == nil || *st.Status != string(connectaccount.StatusVERIFIED) {
		return nil, fmt.Errorf("account %s is not verified after onboarding", ob.AccountID)
	}
	return st, nil
}

// jobPlayer takes demo jobs through the marketplace as its users would,
// with the service calls the GraphQL mutations make.
type jobPlayer struct {
	app                         *app.App
	admin, customer, contractor auth.Viewer
	unit                        int64 // one major unit in minor units
}

// play posts a job and takes it as far as its stage.
func (p jobPlayer) play(ctx context.Context, d demoJob) (seededJob, error) {
	var sj seededJob
	m := p.app.Market
	j, err := m.CreateJob(ctx, p.customer, market.CreateJobInput{
		Title: d.title, Description: d.description, Budget: d.budget * p.unit,
		Category: &d.category, Location: &d.location,
	})
	if err != nil {
		return sj, err
	}
	proposed := d.offer * p.unit
	if sj.application, err = m.Apply(ctx, p.contractor, market.ApplyInput{
		JobID: j.ID, CoverLetter: &d.coverLetter, ProposedAmount: &proposed,
	}); err != nil {
		return sj, err
	}
	if d.stage >= stageOffered {
		if err := p.advance(ctx, d, j.ID, &sj); err != nil {
			return sj, err
		}
	}
	sj.job, err = m.Job(ctx, j.ID)
	if err == nil && sj.contract != nil {
		sj.escrow, err = m.EscrowOf(ctx, p.admin, sj.contract)
	}
	return sj, err
}

// advance takes a job on from its application: offer, acceptance,
// work, completion, release and review, as far as the job's stage.
func (p jobPlayer) advance(ctx context.Context, d demoJob, jobID pulid.ID, sj *seededJob) error {
	m := p.app.Market
	sent, err := m.SendOffer(ctx, p.customer, market.SendOfferInput{
		ApplicationID: sj.application.ID, Amount: d.offer * p.unit, Timeline: d.timeline,
		Description: "Fixed price for the whole job, as discussed in your application.",
	})
	if err != nil {
		return err
	}
	sj.offer = sent.Offer
	if d.stage == stageOffered {
		return nil
	}
	accepted, err := m.AcceptOffer(ctx, p.contractor, sj.offer.ID)
	if err != nil {
		return err
	}
	sj.offer, sj.contract = accepted.Offer, accepted.Contract
	if d.stage == stageAccepted {
		return nil
	}
	if _, err := m.UpdateJobStatus(ctx, p.contractor, jobID, job.StatusIN_PROGRESS); err != nil {
		return err
	}
	done, err := m.CompleteJob(ctx, p.customer, jobID)
	if err != nil {
		return err
	}
	if d.stage == stageCompleted {
		return nil
	}
	if done.AwaitingApproval {
		if _, err := m.ApproveFundRelease(ctx, p.admin, sj.contract.ID); err != nil {
			return err
		}
	}
	sj.review, err = m.RateFreelancer(ctx, p.customer, market.RateInput{ContractID: sj.contract.ID, Rating: 5, Description: demoReview})
	return err
}

// demoExample is a query the summary suggests, and the account to run it as.
type demoExample struct{ as, query string }

// demoExamples are the summary's queries, with the world's ids filled in.
func demoExamples(w *demoWorld) []demoExample {
	ex := []demoExample{
		{"customer", `{ wallet { balance escrowBalance totalSpent } jobs(mine: true, first: 10) { edges { node { id title status ` +
			`offer { id amount totalCharge status } contract { id escrow { status amount } } } } } }`},
		{"customer", `{ transactions(first: 10) { totalCount edges { node { type amount description } } } }`},
		{"contractor", fmt.Sprintf(`{ connectAccountStatus { status payoutsEnabled } wallet { balance totalEarnings } `+
			`reviews(freelancerId: %q, first: 5) { totalCount edges { node { rating description } } } }`, w.contractor.ID)},
		{"admin", `{ platformStats { revenue escrowHeld walletBalances ledgerBalanced } }`},
		{"newcomer", `{ connectAccountStatus { status onboardingComplete } }`},
		{"newcomer", `mutation { createConnectAccount { accountId onboardingUrl } }`},
	}
	for _, sj := range w.jobs {
		switch {
		case sj.offer != nil && sj.contract == nil:
			ex = append(ex, demoExample{"contractor", fmt.Sprintf(`mutation { acceptOffer(offerId: %q) { job { status } contract { id } } }`, sj.offer.ID)})
		case sj.escrow != nil && sj.escrow.Status == escrow.StatusRELEASE_REQUESTED:
			ex = append(ex, demoExample{"admin", fmt.Sprintf(`mutation { approveFundRelease(contractId: %q) { status releasedAt } }`, sj.contract.ID)})
		}
	}
	return ex
}

// printWorld is the summary: the accounts, each job's state and what to
// try next.
func printWorld(out io.Writer, cfg *config.Config, w *demoWorld) {
	cur := cfg.Currency
	var b strings.Builder
	fmt.Fprintf(&b, "demo data created (password for every account: %s)\n\nAccounts\n", seedPassword)
	fmt.Fprintf(&b, "  admin       %-27s %s\n", w.admin.Email, w.admin.ID)
	fmt.Fprintf(&b, "  customer    %-27s %s\n", w.customer.Email, w.customer.ID)
	fmt.Fprintf(&b, "              wallet: balance %s, in escrow %s; funded by a %s sandbox Checkout deposit (%s)\n",
		cur.Display(w.customerWallet.Balance), cur.Display(w.customerWallet.EscrowBalance), cur.Display(w.deposit.Amount), w.deposit.ID)
	fmt.Fprintf(&b, "  contractor  %-27s %s\n", w.contractor.Email, w.contractor.ID)
	fmt.Fprintf(&b, "              wallet: balance %s; Stripe Connect %s %s (payouts enabled: can withdraw)\n",
		cur.Display(w.contractorWallet.Balance), deref(w.connect.AccountID), deref(w.connect.Status))
	fmt.Fprintf(&b, "  newcomer    %-27s %s\n", w.newcomer.Email, w.newcomer.ID)
	b.WriteString("              a contractor who has not onboarded to Stripe Connect yet (cannot withdraw): " +
		"createConnectAccount as this account, then open its onboardingUrl (the sandbox's onboarding page)\n")

	b.WriteString("\nJobs (posted by the customer; the contractor applied to each)\n")
	for _, sj := range w.jobs {
		fmt.Fprintf(&b, "  %-12s %q %s\n               %s\n", sj.job.Status, sj.job.Title, sj.job.ID, jobState(cur.Display, sj))
	}

	b.WriteString("\nTry it\n")
	if cfg.Playground {
		fmt.Fprintf(&b, "  GraphiQL: %s/  (start the server first: make run, or jobsphere serve)\n", cfg.PublicURL)
	} else {
		fmt.Fprintf(&b, "  GraphiQL is off (GRAPHIQL=false): POST the queries below to %s/graphql\n", cfg.PublicURL)
	}
	fmt.Fprintf(&b, "  1. sign in as any account above:\n     mutation { login(input: {email: %q, password: %q}) { user { id role } tokens { accessToken } } }\n",
		customerEmail, seedPassword)
	b.WriteString("  2. put the token in GraphiQL's Headers tab: {\"Authorization\": \"Bearer <accessToken>\"}\n")
	b.WriteString("  3. ask, as the account named:\n")
	for _, e := range demoExamples(w) {
		fmt.Fprintf(&b, "     %-10s  %s\n", e.as, e.query)
	}
	b.WriteString("  `jobsphere ledger verify` checks every balance against its postings.\n")
	_, _ = io.WriteString(out, b.String())
}

// jobState says where a demo job stands and what can be done next.
func jobState(money func(int64) string, sj seededJob) string {
	switch {
	case sj.offer == nil:
		return fmt.Sprintf("application %s %s, no offer yet: sendOffer as the customer", sj.application.ID, sj.application.Status)
	case sj.contract == nil:
		return fmt.Sprintf("offer %s of %s %s, %s held from the customer's wallet until the contractor answers (expires %s): acceptOffer or rejectOffer as the contractor",
			sj.offer.ID, money(sj.offer.Amount), sj.offer.Status, money(sj.offer.TotalCharge), sj.offer.ExpiresAt.Format("2006-01-02 15:04 MST"))
	}
	e := sj.escrow
	switch e.Status {
	case escrow.StatusFUNDED:
		return fmt.Sprintf("offer accepted; contract %s, escrow FUNDED with %s: updateJobStatus to IN_PROGRESS, then completeJob as the customer",
			sj.contract.ID, money(e.Amount))
	case escrow.StatusRELEASE_REQUESTED:
		return fmt.Sprintf("work completed by the customer; contract %s, escrow RELEASE_REQUESTED (%s) awaits an admin: approveFundRelease",
			sj.contract.ID, money(e.Amount))
	case escrow.StatusRELEASED:
		s := fmt.Sprintf("escrow RELEASED: %s paid to the contractor, %s kept in fees", money(e.FreelancerEarning), money(e.PlatformFee+e.ServiceFee))
		if sj.review != nil {
			s += fmt.Sprintf("; reviewed %d/5 %q", sj.review.Rating, sj.review.Description)
		}
		return s
	}
	return fmt.Sprintf("contract %s, escrow %s", sj.contract.ID, e.Status)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func pow10(n int) int64 {
	v := int64(1)
	for range n {
		v *= 10
	}
	return v
}
