package main

import (
	"context"
	"io"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/user"
	"github.com/jobsphere/jobsphere/server/servertest"
)

// TestSeedDemoWorld: seed on a fresh database makes the world it prints,
// through the real money paths (a sandbox Checkout deposit, a sandbox
// Connect onboarding, the marketplace's own calls), so the ledger
// verifies; a second run changes nothing; a second contractor has not
// onboarded yet, and says so; and every query the summary suggests works
// as printed (the newcomer's onboarding starts with one).
func TestSeedDemoWorld(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		env := servertest.Env(t, db)
		first, second := &servertest.SyncBuffer{}, &servertest.SyncBuffer{}
		if err := run(context.Background(), []string{"jobsphere", "seed"}, getenv(env), first, io.Discard); err != nil {
			t.Fatalf("seed: %v\n%s", err, first)
		}
		summary := first.String()
		if !strings.Contains(summary, "demo data created (password for every account: "+seedPassword+")") {
			t.Fatalf("first seed: %s", summary)
		}
		if err := run(context.Background(), []string{"jobsphere", "seed"}, getenv(env), second, io.Discard); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(second.String(), "demo data already present") {
			t.Fatalf("second seed: %s", second)
		}

		srv := servertest.Start(t, env)
		ctx := context.Background()
		users := map[string]servertest.User{}
		for as, account := range map[string]struct{ email, role string }{
			"admin": {adminEmail, "ADMIN"}, "customer": {customerEmail, "CUSTOMER"},
			"contractor": {contractorEmail, "CONTRACTOR"}, "newcomer": {newcomerEmail, "CONTRACTOR"},
		} {
			u := srv.Login(t, account.email, seedPassword)
			if u.Role != account.role || !regexp.MustCompile(`(?m)^  `+as+` +`+regexp.QuoteMeta(account.email)+` `).MatchString(summary) {
				t.Fatalf("%s: role %s, printed as %s: %v", account.email, u.Role, as, strings.Contains(summary, account.email))
			}
			users[as] = u
		}
		customer := srv.Client(users["customer"].AccessToken)

		// The customer's wallet is what the summary printed, all of it
		// from one Checkout deposit the sandbox's signed event credited.
		var w struct {
			Wallet struct{ Balance, EscrowBalance, PendingDeposits string }
		}
		customer.MustDo(t, `{ wallet { balance escrowBalance pendingDeposits } }`, nil, &w)
		printed := regexp.MustCompile(`wallet: balance ([^,]+), in escrow ([^;]+);`).FindStringSubmatch(summary)
		if printed == nil || display(t, srv, w.Wallet.Balance) != printed[1] || display(t, srv, w.Wallet.EscrowBalance) != printed[2] ||
			w.Wallet.PendingDeposits != "0.00" || w.Wallet.Balance == "0.00" {
			t.Fatalf("wallet %+v, printed %q", w.Wallet, printed)
		}
		deps, err := srv.App.Client.Deposit.Query().All(ctx)
		if err != nil || len(deps) != 1 || deps[0].Status != deposit.StatusSUCCEEDED || deps[0].Method != deposit.MethodCHECKOUT ||
			deps[0].TransactionID == nil || !strings.Contains(summary, string(deps[0].ID)) {
			t.Fatalf("deposits: %+v %v", deps, err)
		}
		if n, err := srv.App.Client.StripeEvent.Query().Count(ctx); err != nil || n < 2 {
			t.Fatalf("stripe events through the webhook endpoint: %d %v", n, err)
		}

		var st struct {
			ConnectAccountStatus struct {
				Status                         *string
				PayoutsEnabled, ChargesEnabled bool
			}
		}
		srv.Client(users["contractor"].AccessToken).MustDo(t, `{ connectAccountStatus { status payoutsEnabled chargesEnabled } }`, nil, &st)
		if s := st.ConnectAccountStatus; s.Status == nil || *s.Status != "VERIFIED" || !s.PayoutsEnabled || !s.ChargesEnabled {
			t.Fatalf("connect: %+v", s)
		}
		// The newcomer has no Connect account, and the summary says so.
		srv.Client(users["newcomer"].AccessToken).MustDo(t, `{ connectAccountStatus { status payoutsEnabled chargesEnabled } }`, nil, &st)
		if s := st.ConnectAccountStatus; s.Status != nil || s.PayoutsEnabled || !strings.Contains(summary, "has not onboarded to Stripe Connect yet") {
			t.Fatalf("newcomer's connect: %+v", s)
		}

		// A job in every state, as its customer sees them.
		if got, want := jobStates(t, customer), []string{
			"ASSIGNED offer=ACCEPTED escrow=FUNDED apps=ACCEPTED",
			"COMPLETED offer=ACCEPTED escrow=RELEASED apps=ACCEPTED",
			"IN_PROGRESS offer=ACCEPTED escrow=RELEASE_REQUESTED apps=ACCEPTED",
			"OPEN offer=- escrow=- apps=PENDING",
			"OPEN offer=PENDING escrow=- apps=OFFERED",
		}; strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("jobs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		var rating struct{ Reviews struct{ TotalCount int } }
		customer.MustDo(t, `query($id: ID!) { reviews(freelancerId: $id) { totalCount } }`, map[string]any{"id": users["contractor"].ID}, &rating)
		if rating.Reviews.TotalCount != 1 {
			t.Fatalf("reviews: %+v", rating)
		}
		// The second run added nothing.
		if n, err := srv.App.Client.User.Query().Where(user.EmailIn(adminEmail, customerEmail, contractorEmail, newcomerEmail)).Count(ctx); err != nil || n != 4 {
			t.Fatalf("demo users: %d %v", n, err)
		}
		if n, err := srv.App.Client.Job.Query().Count(ctx); err != nil || n != len(demoJobs) {
			t.Fatalf("jobs: %d %v", n, err)
		}
		srv.RequireLedgerVerified(t)

		// The summary's queries run as printed, as the account it names;
		// its mutations too (accept the pending offer, approve the release).
		examples := printedExamples(t, summary)
		for _, e := range examples {
			u, ok := users[e.as]
			if !ok {
				t.Fatalf("example for unknown account %q", e.as)
			}
			if r := srv.Client(u.AccessToken).Do(t, e.query, nil); len(r.Errors) > 0 {
				t.Fatalf("%s: %s: %+v", e.as, e.query, r.Errors)
			}
		}
		srv.RequireLedgerVerified(t)
		out := &servertest.SyncBuffer{}
		if err := run(context.Background(), []string{"jobsphere", "ledger", "verify"}, getenv(env), out, io.Discard); err != nil ||
			!strings.Contains(out.String(), "ledger OK") {
			t.Fatalf("ledger verify: %v\n%s", err, out)
		}
		// The sandbox's books are in the database: the deposit seed paid
		// reconciles clean from a process of its own.
		out = &servertest.SyncBuffer{}
		if err := run(context.Background(), []string{"jobsphere", "reconcile"}, getenv(env), out, io.Discard); err != nil ||
			!strings.Contains(out.String(), "reconciliation clean") || !strings.Contains(out.String(), "matched 1 movement(s), 1000.00 in and out") {
			t.Fatalf("reconcile after seed: %v\n%s", err, out)
		}
	})
}

// display formats an API amount as the summary does.
func display(t *testing.T, srv *servertest.Server, amount string) string {
	t.Helper()
	cur := srv.App.Config.Currency
	v, err := cur.Parse(amount)
	if err != nil {
		t.Fatal(err)
	}
	return cur.Display(v)
}

// jobStates lists the viewer's jobs as "STATUS offer=… escrow=… apps=…",
// sorted.
func jobStates(t *testing.T, c *servertest.Client) []string {
	t.Helper()
	var page struct {
		Jobs struct {
			Edges []struct {
				Node struct {
					Status       string
					Offer        *struct{ Status string }
					Contract     *struct{ Escrow struct{ Status string } }
					Applications struct {
						Edges []struct{ Node struct{ Status string } }
					}
				}
			}
		}
	}
	c.MustDo(t, `{ jobs(mine: true, first: 10) { edges { node { status offer { status } contract { escrow { status } }
		applications(first: 5) { edges { node { status } } } } } } }`, nil, &page)
	var states []string
	for _, e := range page.Jobs.Edges {
		n := e.Node
		offer, esc := "-", "-"
		if n.Offer != nil {
			offer = n.Offer.Status
		}
		if n.Contract != nil {
			esc = n.Contract.Escrow.Status
		}
		var apps []string
		for _, a := range n.Applications.Edges {
			apps = append(apps, a.Node.Status)
		}
		states = append(states, n.Status+" offer="+offer+" escrow="+esc+" apps="+strings.Join(apps, ","))
	}
	sort.Strings(states)
	return states
}

// printedExamples reads the "ask, as the account named" lines back.
func printedExamples(t *testing.T, summary string) []demoExample {
	t.Helper()
	_, rest, ok := strings.Cut(summary, "ask, as the account named:\n")
	if !ok {
		t.Fatalf("no examples in the summary:\n%s", summary)
	}
	line := regexp.MustCompile(`^ {5}(\w+) +((?:mutation )?\{.*\})$`)
	var out []demoExample
	for _, l := range strings.Split(rest, "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			break
		}
		out = append(out, demoExample{as: m[1], query: m[2]})
	}
	if len(out) < 5 {
		t.Fatalf("examples: %+v", out)
	}
	return out
}

// TestSeedRefuses: production, a real Stripe account and a half-made demo
// world are refused, each with the reason.
func TestSeedRefuses(t *testing.T) {
	seedErr := func(env map[string]string) error {
		return run(context.Background(), []string{"jobsphere", "seed"}, getenv(env), io.Discard, io.Discard)
	}
	stripe := map[string]string{
		"STRIPE_SECRET_KEY": "sk_test_seed", "STRIPE_PUBLISHABLE_KEY": "pk_test_seed", "STRIPE_WEBHOOK_SECRET": "whsec_seed",
	}
	prod := servertest.Env(t, servertest.SQLite)
	prod["APP_ENV"], prod["BCRYPT_COST"] = "production", "10"
	for k, v := range stripe {
		prod[k] = v
	}
	if err := seedErr(prod); err == nil || !strings.Contains(err.Error(), "APP_ENV=production") {
		t.Fatalf("production: %v", err)
	}

	withStripe := servertest.Env(t, servertest.SQLite)
	for k, v := range stripe {
		withStripe[k] = v
	}
	if err := seedErr(withStripe); err == nil || !strings.Contains(err.Error(), "unset STRIPE_SECRET_KEY") {
		t.Fatalf("with a Stripe key: %v", err)
	}

	// A demo account without the rest of the world is not built upon.
	half := servertest.Env(t, servertest.SQLite)
	admin := []string{"jobsphere", "admin", "create", "--email", adminEmail, "--password", seedPassword}
	if err := run(context.Background(), admin, getenv(half), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := seedErr(half); err == nil || !strings.Contains(err.Error(), "demo world is incomplete") {
		t.Fatalf("half-made world: %v", err)
	}
}
