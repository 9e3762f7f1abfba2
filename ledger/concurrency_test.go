package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/lib/pq"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/wallet"
	"github.com/jobsphere/jobsphere/ledger"
)

// raceAll runs fn(0) … fn(n-1) in n goroutines that all wait on one start
// barrier, so they really race, and returns each one's error.
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

// concurrencyFailure names what an error that is not a business refusal
// is, so a failure says "deadlock" or "database is locked" up front.
func concurrencyFailure(err error) string {
	var pqErr *pq.Error
	switch {
	case errors.As(err, &pqErr) && pqErr.Code == "40P01":
		return "PostgreSQL deadlock (40P01): " + err.Error()
	case strings.Contains(err.Error(), "database is locked"), strings.Contains(err.Error(), "SQLITE_BUSY"):
		return "SQLite busy (database is locked): " + err.Error()
	}
	return fmt.Sprintf("unexpected error (code %s): %v", jobsphere.ErrorCode(err), err)
}

// incoherentRefusal checks an INSUFFICIENT_FUNDS refusal of a debit of
// amount from available money: its message must be the seeds' "Insufficient
// balance. Required: …, Available: …" with an available balance that
// really is short of amount (a refusal explained from a later read of the
// wallet would show enough). It returns what is wrong, or "".
func incoherentRefusal(app *world, err error, amount int64) string {
	var e *jobsphere.Error
	if !errors.As(err, &e) {
		return fmt.Sprintf("not a jobsphere error: %v", err)
	}
	cur := app.Ledger.Currency()
	prefix := "Insufficient balance. Required: " + cur.Display(amount) + ", Available: "
	rest, ok := strings.CutPrefix(e.Message, prefix)
	if !ok {
		return fmt.Sprintf("message %q, want it to start %q", e.Message, prefix)
	}
	available, perr := cur.Parse(strings.TrimFunc(rest, func(r rune) bool { return r != '.' && (r < '0' || r > '9') }))
	if perr != nil || available >= amount {
		return fmt.Sprintf("message %q: a refusal of %s must show less available", e.Message, cur.Display(amount))
	}
	return ""
}

// fundForRace posts one DEPOSIT of amount from the outside world into the
// user's available money.
func fundForRace(t *testing.T, app *world, user pulid.ID, key string, amount int64) {
	t.Helper()
	if _, err := post(t, app, ledger.Entry{Key: key, Type: ledgertransaction.TypeDEPOSIT,
		Moves: []ledger.Move{{From: ledger.External, To: ledger.Available(user), Amount: amount}}}); err != nil {
		t.Fatalf("fund %s: %v", key, err)
	}
}

func walletColumns(t *testing.T, app *world, user pulid.ID) (balance, escrow, earnings, spent int64) {
	t.Helper()
	w, err := app.Client.Wallet.Query().Where(wallet.UserID(user)).Only(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return w.Balance, w.EscrowBalance, w.TotalEarnings, w.TotalSpent
}

func TestConcurrentSpendsNeverOverdraw(t *testing.T) {
	dbtest.RequirePostgres(t)
	concurrentSpends(t, newWorld(t, dbtest.Postgres), 200)
}

// TestConcurrentSpendsNeverOverdrawSQLite is the same race, smaller: SQLite
// queues writers on busy_timeout, and none may give up.
func TestConcurrentSpendsNeverOverdrawSQLite(t *testing.T) {
	concurrentSpends(t, newWorld(t, dbtest.SQLite), 40)
}

// concurrentSpends funds a wallet with exactly n/2 holds' worth and races
// n holds against it: exactly n/2 succeed, the rest are refused for
// insufficient funds, and the wallet ends at zero.
func concurrentSpends(t *testing.T, app *world, n int) {
	const amount = 1234
	ctx := context.Background()
	customer := newUser(t, app, role.Customer)
	want := int64(n / 2)
	fundForRace(t, app, customer, "dep:spend-race", want*amount)

	errs := raceAll(n, func(i int) error {
		_, err := post(t, app, ledger.Entry{Key: fmt.Sprintf("hold:%d", i), Type: ledgertransaction.TypeESCROW_HOLD,
			Moves: []ledger.Move{{From: ledger.Available(customer), To: ledger.Escrow(customer), Amount: amount}}})
		return err
	})

	var ok, refused int64
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case jobsphere.ErrorCode(err) == jobsphere.InsufficientFunds:
			refused++
			if bad := incoherentRefusal(app, err, amount); bad != "" {
				t.Errorf("hold %d: %s", i, bad)
			}
		default:
			t.Errorf("hold %d: %s", i, concurrencyFailure(err))
		}
	}
	if ok != want || refused != int64(n)-want {
		t.Fatalf("%d concurrent holds on %d holds' worth: %d succeeded, %d refused for insufficient funds; want %d and %d",
			n, want, ok, refused, want, int64(n)-want)
	}
	balance, escrow, _, _ := walletColumns(t, app, customer)
	if balance != 0 || escrow != want*amount {
		t.Fatalf("wallet after the race: balance %d, escrow %d; want 0 and %d", balance, escrow, want*amount)
	}
	holds, err := app.Client.LedgerTransaction.Query().
		Where(ledgertransaction.TypeEQ(ledgertransaction.TypeESCROW_HOLD)).Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int64(holds) != want {
		t.Fatalf("%d ESCROW_HOLD transactions written, want %d", holds, want)
	}
	r := requireVerified(t, app)
	if r.Available != 0 || r.Escrow != want*amount || r.External != -want*amount {
		t.Fatalf("report after the race: %+v", r)
	}
}

func TestConcurrentTransfersBothWaysNoDeadlock(t *testing.T) {
	dbtest.RequirePostgres(t)
	concurrentTransfers(t, newWorld(t, dbtest.Postgres), 100)
}

// TestConcurrentTransfersBothWaysNoDeadlockSQLite is the same race,
// smaller, on SQLite.
func TestConcurrentTransfersBothWaysNoDeadlockSQLite(t *testing.T) {
	concurrentTransfers(t, newWorld(t, dbtest.SQLite), 20)
}

// concurrentTransfers races perDirection transfers from A to B against as
// many from B to A. A tries to send about twice what it holds plus all it
// can receive, so some of its transfers must be refused for insufficient
// funds; nothing else may fail (no deadlock, no busy database), and the
// money only changes hands.
func concurrentTransfers(t *testing.T, app *world, perDirection int) {
	const unit = 100
	a, b := newUser(t, app, role.Customer), newUser(t, app, role.Customer)
	fundA, fundB := int64(perDirection/5*unit), int64(perDirection/4*unit)
	fundForRace(t, app, a, "dep:a", fundA)
	fundForRace(t, app, b, "dep:b", fundB)
	t.Logf("A is %s, B is %s", a, b)

	// Goroutine i sends 1 to 3 units from A to B when even, 1 unit from B
	// to A when odd.
	amountOf := func(i int) int64 {
		if i%2 == 1 {
			return unit
		}
		return int64(1+(i/2)%3) * unit
	}
	errs := raceAll(2*perDirection, func(i int) error {
		from, to, dir := a, b, "a-b"
		if i%2 == 1 {
			from, to, dir = b, a, "b-a"
		}
		_, err := post(t, app, ledger.Entry{Key: fmt.Sprintf("transfer:%s:%d", dir, i), Type: ledgertransaction.TypeWALLET_TRANSFER,
			Moves: []ledger.Move{{From: ledger.Available(from), To: ledger.Available(to), Amount: amountOf(i)}}})
		return err
	})

	var sentAB, sentBA int64
	var okAB, okBA, refused int
	for i, err := range errs {
		switch {
		case err == nil && i%2 == 0:
			okAB++
			sentAB += amountOf(i)
		case err == nil:
			okBA++
			sentBA += amountOf(i)
		case jobsphere.ErrorCode(err) == jobsphere.InsufficientFunds:
			refused++
			if bad := incoherentRefusal(app, err, amountOf(i)); bad != "" {
				t.Errorf("transfer %d: %s", i, bad)
			}
		default:
			t.Errorf("transfer %d: %s", i, concurrencyFailure(err))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d A→B and %d B→A transfers succeeded, %d refused for insufficient funds", okAB, okBA, refused)
	if okAB == 0 || okBA == 0 || refused == 0 {
		t.Fatalf("A→B %d and B→A %d succeeded, %d refused: want some of each", okAB, okBA, refused)
	}

	balA, escA, earnA, spentA := walletColumns(t, app, a)
	balB, escB, earnB, spentB := walletColumns(t, app, b)
	if balA+balB != fundA+fundB || escA != 0 || escB != 0 {
		t.Fatalf("money was created or lost: A %d + B %d = %d, want %d (escrow %d, %d)", balA, balB, balA+balB, fundA+fundB, escA, escB)
	}
	if balA != fundA-sentAB+sentBA || balB != fundB-sentBA+sentAB {
		t.Fatalf("balances A %d, B %d; the successful transfers imply %d and %d", balA, balB, fundA-sentAB+sentBA, fundB-sentBA+sentAB)
	}
	if spentA != sentAB || earnB != sentAB || spentB != sentBA || earnA != sentBA {
		t.Fatalf("totals: A spent %d earned %d, B spent %d earned %d; want A→B %d, B→A %d", spentA, earnA, spentB, earnB, sentAB, sentBA)
	}
	n, err := app.Client.LedgerTransaction.Query().
		Where(ledgertransaction.TypeEQ(ledgertransaction.TypeWALLET_TRANSFER)).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != okAB+okBA {
		t.Fatalf("%d WALLET_TRANSFER transactions written, %d transfers succeeded", n, okAB+okBA)
	}
	requireVerified(t, app)
}

// TestConcurrentSameIdempotencyKey posts one entry under one key from 20
// goroutines at once: one transaction is written, every caller succeeds
// with it, and the money moves once.
func TestConcurrentSameIdempotencyKey(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		const callers, funded, amount = 20, 10000, 2500
		app := newWorld(t, db)
		ctx := context.Background()
		customer := newUser(t, app, role.Customer)
		fundForRace(t, app, customer, "dep:same-key", funded)

		entry := ledger.Entry{Key: "offer:same-key:hold", Type: ledgertransaction.TypeESCROW_HOLD, Description: "hold once",
			Moves: []ledger.Move{{From: ledger.Available(customer), To: ledger.Escrow(customer), Amount: amount}}}
		results := make([]*ledger.Posted, callers)
		errs := raceAll(callers, func(i int) error {
			p, err := post(t, app, entry)
			results[i] = p
			return err
		})

		var first pulid.ID
		fresh := 0
		for i, err := range errs {
			if err != nil {
				t.Errorf("caller %d: %s", i, concurrencyFailure(err))
				continue
			}
			p := results[i]
			if p == nil || p.Transaction == nil {
				t.Errorf("caller %d: no transaction in %+v", i, p)
				continue
			}
			if !p.Replayed {
				fresh++
			}
			if first == "" {
				first = p.Transaction.ID
			} else if p.Transaction.ID != first {
				t.Errorf("caller %d got transaction %s, another got %s", i, p.Transaction.ID, first)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		if fresh != 1 {
			t.Fatalf("%d callers report a fresh posting, want exactly 1 (the rest replayed)", fresh)
		}
		rows, err := app.Client.LedgerTransaction.Query().Where(ledgertransaction.IdempotencyKey(entry.Key)).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].ID != first {
			t.Fatalf("%d transaction rows under the key, want 1 (%s)", len(rows), first)
		}
		if n, err := app.Client.LedgerTransaction.Query().Count(ctx); err != nil || n != 2 {
			t.Fatalf("%d transactions in all (%v), want the deposit and the hold", n, err)
		}
		balance, escrow, _, _ := walletColumns(t, app, customer)
		if balance != funded-amount || escrow != amount {
			t.Fatalf("wallet: balance %d, escrow %d; want %d and %d (moved once)", balance, escrow, funded-amount, amount)
		}
		requireVerified(t, app)
	})
}

// TestConcurrentRevenueDebitsNoDeadlock races refunds out of the platform's
// revenue against fees into it. Each posting insert holds a key-share lock
// on the revenue account; a debit's lock must not wait on those (it once
// took FOR UPDATE and two refunds deadlocked). Refunds beyond the revenue
// held are refused; nothing else fails.
func TestConcurrentRevenueDebitsNoDeadlock(t *testing.T) {
	dbtest.RequirePostgres(t)
	app := newWorld(t, dbtest.Postgres)
	const unit, n = 100, 60
	payer, payee := newUser(t, app, role.Customer), newUser(t, app, role.Customer)
	fundForRace(t, app, payer, "dep:payer", (n+10)*unit)
	if _, err := post(t, app, ledger.Entry{Key: "fee:seed", Type: ledgertransaction.TypePLATFORM_FEE,
		Moves: []ledger.Move{{From: ledger.Available(payer), To: ledger.Revenue, Amount: 10 * unit}}}); err != nil {
		t.Fatal(err)
	}
	// Even goroutines refund one unit of revenue, odd ones charge one.
	errs := raceAll(2*n, func(i int) error {
		e := ledger.Entry{Key: fmt.Sprintf("fee:%d", i), Type: ledgertransaction.TypePLATFORM_FEE,
			Moves: []ledger.Move{{From: ledger.Available(payer), To: ledger.Revenue, Amount: unit}}}
		if i%2 == 0 {
			e = ledger.Entry{Key: fmt.Sprintf("refund:%d", i), Type: ledgertransaction.TypeREFUND,
				Moves: []ledger.Move{{From: ledger.Revenue, To: ledger.Available(payee), Amount: unit}}}
		}
		_, err := post(t, app, e)
		return err
	})
	for i, err := range errs {
		if err != nil && (i%2 == 1 || jobsphere.ErrorCode(err) != jobsphere.InsufficientFunds) {
			t.Errorf("posting %d: %s", i, concurrencyFailure(err))
		}
	}
	requireVerified(t, app)
}
