package ledger_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
)

// post runs one entry in its own database transaction, as a service would.
func post(t testing.TB, app *world, e ledger.Entry) (*ledger.Posted, error) {
	t.Helper()
	ctx := context.Background()
	tx, err := app.Client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := app.Ledger.Post(ctx, tx.Client(), e)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return p, tx.Commit()
}

// world is a fresh database with the ledger on it: no HTTP, no services.
type world struct {
	Client *ent.Client
	Ledger *ledger.Ledger
}

func newWorld(t testing.TB, db dbtest.Database) *world {
	t.Helper()
	client := dbtest.Open(t, db)
	l := ledger.New(client, jobsphere.USD, db == dbtest.Postgres)
	if err := l.EnsurePlatformAccounts(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &world{Client: client, Ledger: l}
}

// newUser makes a user of role r with an empty wallet, as sign-up does.
func newUser(t testing.TB, app *world, r role.Role) pulid.ID {
	t.Helper()
	ctx := context.Background()
	var id pulid.ID
	err := app.Client.WithTx(ctx, func(tx *ent.Tx) error {
		u, err := tx.User.Create().SetEmail(string(pulid.New("u")) + "@example.test").SetPasswordHash("not a hash").
			SetName("Ledger User").SetRole(r).Save(ctx)
		if err != nil {
			return err
		}
		id = u.ID
		_, err = app.Ledger.OpenWallet(ctx, tx.Client(), u.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// requireVerified fails the test when the ledger does not verify.
func requireVerified(t testing.TB, app *world) *ledger.Report {
	t.Helper()
	r, err := app.Ledger.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("ledger does not verify: %v", r.Problems)
	}
	return r
}

func TestJobLifecycleBalances(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		ctx := context.Background()
		customer, contractor := newUser(t, app, role.Customer), newUser(t, app, role.Contractor)
		fees, _ := ledger.Fees(10000, ledger.Rates{CustomerBPS: 500, ContractorBPS: 2000})

		steps := []ledger.Entry{
			{Key: "dep:1", Type: ledgertransaction.TypeDEPOSIT, Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(customer), Amount: 20000}}},
			{Key: "ofr:1:hold", Type: ledgertransaction.TypeESCROW_HOLD, Moves: []ledger.Move{{From: ledger.Available(customer), To: ledger.Escrow(customer), Amount: fees.TotalCharge}}},
			{Key: "ofr:1:fee", Type: ledgertransaction.TypePLATFORM_FEE, Moves: []ledger.Move{{From: ledger.Escrow(customer), To: ledger.Revenue, Amount: fees.PlatformFee}}},
			{Key: "ctr:1:service", Type: ledgertransaction.TypeSERVICE_FEE, Moves: []ledger.Move{{From: ledger.Escrow(customer), To: ledger.Revenue, Amount: fees.ServiceFee}}},
			{Key: "ctr:1:payout", Type: ledgertransaction.TypeCONTRACTOR_PAYOUT, Moves: []ledger.Move{{From: ledger.Escrow(customer), To: ledger.Available(contractor), Amount: fees.ContractorPayout}}},
			{Key: "wdr:1", Type: ledgertransaction.TypeWITHDRAWAL, Moves: []ledger.Move{{From: ledger.Available(contractor), To: ledger.External, Amount: 5000}}},
		}
		for _, e := range steps {
			if _, err := post(t, app, e); err != nil {
				t.Fatalf("%s: %v", e.Key, err)
			}
		}
		cw, _ := app.Ledger.Wallet(ctx, customer)
		kw, _ := app.Ledger.Wallet(ctx, contractor)
		if cw.Balance != 9500 || cw.EscrowBalance != 0 || cw.TotalSpent != 10500 {
			t.Fatalf("customer wallet: %+v", cw)
		}
		if kw.Balance != 3000 || kw.TotalEarnings != 8000 || kw.TotalWithdrawals != 5000 {
			t.Fatalf("contractor wallet: %+v", kw)
		}
		r := requireVerified(t, app)
		if r.Revenue != 2500 || r.External != -15000 {
			t.Fatalf("report: %+v", r)
		}

		// Same key, same request: the first result, nothing posted again.
		again, err := post(t, app, steps[0])
		if err != nil || !again.Replayed {
			t.Fatalf("replay: %+v %v", again, err)
		}
		// Same key, different request: CONFLICT.
		changed := steps[0]
		changed.Moves = []ledger.Move{{From: ledger.External, To: ledger.Available(customer), Amount: 1}}
		if _, err := post(t, app, changed); jobsphere.ErrorCode(err) != jobsphere.Conflict {
			t.Fatalf("changed request under a used key: %v", err)
		}

		// Overdraft is refused with the seeds' message, and nothing moves.
		_, err = post(t, app, ledger.Entry{Key: "ofr:2:hold", Type: ledgertransaction.TypeESCROW_HOLD,
			Moves: []ledger.Move{{From: ledger.Available(customer), To: ledger.Escrow(customer), Amount: 10500}}})
		if jobsphere.ErrorCode(err) != jobsphere.InsufficientFunds || !strings.Contains(err.Error(), "Insufficient balance. Required: $105.00, Available: $95.00") {
			t.Fatalf("overdraft: %v", err)
		}

		// A frozen wallet cannot spend, but can receive.
		note := "review"
		if _, err := app.Ledger.SetAdminFreeze(ctx, app.Client, customer, &note); err != nil {
			t.Fatal(err)
		}
		_, err = post(t, app, ledger.Entry{Key: "ofr:3:hold", Type: ledgertransaction.TypeESCROW_HOLD,
			Moves: []ledger.Move{{From: ledger.Available(customer), To: ledger.Escrow(customer), Amount: 100}}})
		if jobsphere.ErrorCode(err) != jobsphere.WalletFrozen {
			t.Fatalf("frozen spend: %v", err)
		}
		if _, err := post(t, app, ledger.Entry{Key: "dep:2", Type: ledgertransaction.TypeDEPOSIT,
			Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(customer), Amount: 100}}}); err != nil {
			t.Fatalf("deposit into a frozen wallet: %v", err)
		}

		// Reversal undoes the withdrawal exactly once; a payout whose money
		// is partly withdrawn cannot be reversed (it would overdraw).
		payout, _ := app.Client.LedgerTransaction.Query().Where(ledgertransaction.IdempotencyKey("wdr:1")).Only(ctx)
		reverse := func(key string) error {
			tx, _ := app.Client.Tx(ctx)
			_, err := app.Ledger.Reverse(ctx, tx.Client(), payout.ID, key, "correction")
			if err != nil {
				_ = tx.Rollback()
				return err
			}
			return tx.Commit()
		}
		if err := reverse("rev:1"); err != nil {
			t.Fatal(err)
		}
		if err := reverse("rev:2"); jobsphere.ErrorCode(err) != jobsphere.Conflict {
			t.Fatalf("second reversal: %v", err)
		}
		kw, _ = app.Ledger.Wallet(ctx, contractor)
		if kw.Balance != 8000 || kw.TotalWithdrawals != 0 || kw.TotalEarnings != 8000 {
			t.Fatalf("contractor after reversal: %+v", kw)
		}
		requireVerified(t, app)
	})
}

func TestPostingsAreAppendOnly(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		customer := newUser(t, app, role.Customer)
		if _, err := post(t, app, ledger.Entry{Key: "dep:1", Type: ledgertransaction.TypeDEPOSIT,
			Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(customer), Amount: 100}}}); err != nil {
			t.Fatal(err)
		}
		for _, stmt := range []string{"UPDATE postings SET amount = amount * 2", "DELETE FROM postings"} {
			if _, err := app.Client.ExecContext(context.Background(), stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		requireVerified(t, app)
	})
}

// TestPostAllIsEachPostedAtOnce: entries posted together leave the same
// wallets, postings and replays as posted one by one, and a joint debit
// the wallet cannot cover is refused as a whole.
func TestPostAllIsEachPostedAtOnce(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		ctx := context.Background()
		customer, contractor := newUser(t, app, role.Customer), newUser(t, app, role.Contractor)
		for _, e := range []ledger.Entry{
			{Key: "dep:1", Type: ledgertransaction.TypeDEPOSIT, Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(customer), Amount: 10500}}},
			{Key: "ofr:1:hold", Type: ledgertransaction.TypeESCROW_HOLD, Moves: []ledger.Move{{From: ledger.Available(customer), To: ledger.Escrow(customer), Amount: 10500}}},
		} {
			if _, err := post(t, app, e); err != nil {
				t.Fatalf("%s: %v", e.Key, err)
			}
		}
		payout := []ledger.Entry{
			{Key: "esc:1:service-fee", Type: ledgertransaction.TypeSERVICE_FEE, Moves: []ledger.Move{{From: ledger.Escrow(customer), To: ledger.Revenue, Amount: 2000}}},
			{Key: "esc:1:payout", Type: ledgertransaction.TypeCONTRACTOR_PAYOUT, Moves: []ledger.Move{{From: ledger.Escrow(customer), To: ledger.Available(contractor), Amount: 8000}}},
		}
		postAll := func(entries ...ledger.Entry) ([]*ledger.Posted, error) {
			tx, err := app.Client.Tx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			p, err := app.Ledger.PostAll(ctx, tx.Client(), entries...)
			if err != nil {
				_ = tx.Rollback()
				return nil, err
			}
			return p, tx.Commit()
		}

		// More than the escrow holds, together: refused, nothing moves.
		tooMuch := append([]ledger.Entry{}, payout...)
		tooMuch[1].Key, tooMuch[1].Moves = "esc:1:payout-too-much", []ledger.Move{{From: ledger.Escrow(customer), To: ledger.Available(contractor), Amount: 8501}}
		if _, err := postAll(tooMuch...); jobsphere.ErrorCode(err) != jobsphere.InsufficientFunds {
			t.Fatalf("a joint debit beyond the escrow: %v", err)
		}

		posted, err := postAll(payout...)
		if err != nil || len(posted) != 2 || posted[0].Replayed || posted[1].Replayed ||
			posted[0].Transaction.Type != ledgertransaction.TypeSERVICE_FEE || posted[1].Transaction.Amount != 8000 {
			t.Fatalf("posted together: %+v, %v", posted, err)
		}
		cw, _ := app.Ledger.Wallet(ctx, customer)
		kw, _ := app.Ledger.Wallet(ctx, contractor)
		if cw.EscrowBalance != 500 || cw.TotalSpent != 10000 || kw.Balance != 8000 || kw.TotalEarnings != 8000 {
			t.Fatalf("wallets: customer %+v, contractor %+v", cw, kw)
		}
		again, err := postAll(payout...)
		if err != nil || !again[0].Replayed || !again[1].Replayed || again[1].Transaction.ID != posted[1].Transaction.ID {
			t.Fatalf("replayed together: %+v, %v", again, err)
		}
		if r := requireVerified(t, app); r.Revenue != 2000 {
			t.Fatalf("revenue %d, want 2000", r.Revenue)
		}
	})
}

// TestPostAllChecksEachEntry: PostAll merges a wallet's changes into one
// update, but refuses each entry as Post would, in order: a frozen
// wallet's spend is refused even when a credit posted with it covers it,
// and a debit is checked against the balance before the credits after it.
// depositTo is a deposit of amount to the user's available money.
func depositTo(user pulid.ID, key string, amount int64) ledger.Entry {
	return ledger.Entry{Key: key, Type: ledgertransaction.TypeDEPOSIT,
		Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(user), Amount: amount}}}
}

// postAll posts the entries together in their own database transaction.
func postAll(t *testing.T, app *world, entries ...ledger.Entry) ([]*ledger.Posted, error) {
	var posted []*ledger.Posted
	_, err := inTx(t, app, func(tx *ent.Client) (*ledger.Posted, error) {
		var err error
		posted, err = app.Ledger.PostAll(context.Background(), tx, entries...)
		return nil, err
	})
	return posted, err
}

// wantTransactions checks that the ledger holds n transactions and
// verifies it.
func wantTransactions(t *testing.T, app *world, n int) {
	t.Helper()
	if got := app.Client.LedgerTransaction.Query().CountX(context.Background()); got != n {
		t.Fatalf("%d transactions, want %d", got, n)
	}
	requireVerified(t, app)
}

// Entries posted together of which some were posted before: those
// replay, the rest post, and the wallets change by the rest only; one
// whose key was used with another request refuses them all.
func TestPostAllReplaysPartOfIt(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		customer := newUser(t, app, role.Customer)
		deposit := func(key string, amount int64) ledger.Entry { return depositTo(customer, key, amount) }
		first, err := post(t, app, deposit("dep:a", 1000))
		if err != nil {
			t.Fatal(err)
		}
		posted, err := postAll(t, app, deposit("dep:a", 1000), deposit("dep:b", 2000))
		if err != nil {
			t.Fatal(err)
		}
		if !posted[0].Replayed || posted[0].Transaction.ID != first.Transaction.ID || posted[1].Replayed {
			t.Fatalf("replayed %v (%s, first %s), %v; want the first replayed, the second posted",
				posted[0].Replayed, posted[0].Transaction.ID, first.Transaction.ID, posted[1].Replayed)
		}
		wantWallet(t, app, customer, 3000, 0, nil)
		if _, err := postAll(t, app, deposit("dep:c", 1), deposit("dep:b", 999)); jobsphere.ErrorCode(err) != jobsphere.Conflict {
			t.Fatalf("a key used before with another amount: %v, want CONFLICT", err)
		}
		wantWallet(t, app, customer, 3000, 0, nil)
		wantTransactions(t, app, 2)
	})
}

// Of two wallets changed together, the one later in the lock order
// refuses: nothing is posted, the other wallet included.
func TestPostAllLaterWalletRefuses(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		users := []pulid.ID{newUser(t, app, role.Customer), newUser(t, app, role.Customer)}
		slices.Sort(users)
		early, late := users[0], users[1]
		if _, err := post(t, app, depositTo(early, "dep:early", 1000)); err != nil {
			t.Fatal(err)
		}
		transfer := func(key string, from, to pulid.ID, amount int64) ledger.Entry {
			return ledger.Entry{Key: key, Type: ledgertransaction.TypeWALLET_TRANSFER,
				Moves: []ledger.Move{{From: ledger.Available(from), To: ledger.Available(to), Amount: amount}}}
		}
		if _, err := post(t, app, transfer("late-pays", late, early, 500)); jobsphere.ErrorCode(err) != jobsphere.InsufficientFunds {
			t.Fatalf("a transfer from an empty wallet: %v, want INSUFFICIENT_FUNDS", err)
		}
		wantWallet(t, app, early, 1000, 0, nil)
		wantWallet(t, app, late, 0, 0, nil)
		if _, err := post(t, app, transfer("early-pays", early, late, 400)); err != nil {
			t.Fatal(err)
		}
		wantWallet(t, app, early, 600, 0, nil)
		wantWallet(t, app, late, 400, 0, nil)
		wantTransactions(t, app, 2)
	})
}

func TestPostAllChecksEachEntry(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		ctx := context.Background()
		customer := newUser(t, app, role.Customer)
		deposit := func(key string, amount int64) ledger.Entry { return depositTo(customer, key, amount) }
		hold := func(key string, amount int64) ledger.Entry {
			return ledger.Entry{Key: key, Type: ledgertransaction.TypeESCROW_HOLD,
				Moves: []ledger.Move{{From: ledger.Available(customer), To: ledger.Escrow(customer), Amount: amount}}}
		}
		if _, err := post(t, app, deposit("dep:1", 10000)); err != nil {
			t.Fatal(err)
		}

		// A debit before the credit that would cover it: refused.
		if _, err := postAll(t, app, hold("hold:early", 15000), deposit("dep:late", 10000)); jobsphere.ErrorCode(err) != jobsphere.InsufficientFunds {
			t.Fatalf("a hold of 150.00 before a deposit of 100.00, on 100.00: %v, want INSUFFICIENT_FUNDS", err)
		}
		// After it: taken.
		if _, err := postAll(t, app, deposit("dep:2", 10000), hold("hold:1", 15000)); err != nil {
			t.Fatalf("a deposit of 100.00 and then a hold of 150.00, on 100.00: %v", err)
		}
		wantWallet(t, app, customer, 5000, 0, nil)

		note := "fraud review"
		if _, err := inTx(t, app, func(tx *ent.Client) (*ledger.Posted, error) {
			_, err := app.Ledger.SetAdminFreeze(ctx, tx, customer, &note)
			return nil, err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := post(t, app, hold("hold:2", 5000)); jobsphere.ErrorCode(err) != jobsphere.WalletFrozen {
			t.Fatalf("the spend alone: %v, want WALLET_FROZEN", err)
		}
		if _, err := postAll(t, app, deposit("dep:3", 5000), hold("hold:2", 5000)); jobsphere.ErrorCode(err) != jobsphere.WalletFrozen {
			t.Fatalf("the same spend posted after a credit: %v, want WALLET_FROZEN as posted alone", err)
		}
		requireVerified(t, app)
	})
}
