package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/ledger/ledgertest"
)

// requireClosingIsWallet fails unless the statement's closing balances
// are the wallet's cached ones.
func requireClosingIsWallet(t *testing.T, app *world, s *ledger.Statement, user pulid.ID) {
	t.Helper()
	w, err := app.Ledger.Wallet(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	if s.ClosingAvailable != w.Balance || s.ClosingEscrow != w.EscrowBalance || s.ClosingOwed != w.AmountOwed {
		t.Fatalf("closing available %d, escrow %d, owed %d; the wallet has balance %d, escrowBalance %d, amountOwed %d",
			s.ClosingAvailable, s.ClosingEscrow, s.ClosingOwed, w.Balance, w.EscrowBalance, w.AmountOwed)
	}
}

// statementOf is the user's statement, failing the test on an error.
func statementOf(t *testing.T, app *world, user pulid.ID, from, to time.Time) *ledger.Statement {
	t.Helper()
	s, err := app.Ledger.Statement(context.Background(), user, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A job's money as the marketplace posts it — deposits, an offer's hold,
// its platform fee on accept, the release (service fee and payout) — then
// a refund made outside (more than the customer has: the rest is owed) and
// a deposit paying part of it back. Each party's statement closes at its
// wallet's cached balances; two statements split at a moment in between
// join up (the first's closing is the second's opening); every line's
// balance follows from the one before.
func TestStatementClosesAtTheWallet(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		ctx := context.Background()
		customer, contractor := newUser(t, app, role.Customer), newUser(t, app, role.Contractor)
		start := time.Now().Add(-time.Minute)
		credit := func(key string, user pulid.ID, amount int64) {
			t.Helper()
			if _, err := inTx(t, app, func(tx *ent.Client) (*ledger.Posted, error) {
				return app.Ledger.CreditFromOutside(ctx, tx, user, amount, ledger.Entry{Key: key, Type: ledgertransaction.TypeDEPOSIT, Description: "Wallet deposit"})
			}); err != nil {
				t.Fatal(err)
			}
		}
		mustPost := func(e ledger.Entry) {
			t.Helper()
			if _, err := post(t, app, e); err != nil {
				t.Fatal(err)
			}
		}

		credit("dep:1", customer, 20000)
		credit("dep:k", contractor, 500)
		// The offer holds $105.00; accepting it takes the $5.00 platform fee.
		mustPost(ledger.Entry{Key: "offer:hold", Type: ledgertransaction.TypeESCROW_HOLD, Description: "Escrow hold",
			Moves: []ledger.Move{{From: ledger.Available(customer), To: ledger.Escrow(customer), Amount: 10500}}})
		mustPost(ledger.Entry{Key: "offer:fee", Type: ledgertransaction.TypePLATFORM_FEE, Description: "Platform fee",
			Moves: []ledger.Move{{From: ledger.Escrow(customer), To: ledger.Revenue, Amount: 500}}})
		middle := time.Now()
		// The release: the $10.00 service fee, the $90.00 payout.
		mustPost(ledger.Entry{Key: "escrow:fee", Type: ledgertransaction.TypeSERVICE_FEE, Description: "Service fee",
			Moves: []ledger.Move{{From: ledger.Escrow(customer), To: ledger.Revenue, Amount: 1000}}})
		mustPost(ledger.Entry{Key: "escrow:payout", Type: ledgertransaction.TypeCONTRACTOR_PAYOUT, Description: "Payout, \"done\"",
			Moves: []ledger.Move{{From: ledger.Escrow(customer), To: ledger.Available(contractor), Amount: 9000}}})
		// The $200.00 refunded in Stripe's Dashboard: $95.00 from the
		// wallet, $105.00 owed; $30.00 in pays part of it back.
		if _, err := inTx(t, app, func(tx *ent.Client) (*ledger.Posted, error) {
			return app.Ledger.TakeBack(ctx, tx, customer, 20000, ledger.Entry{Key: "refund:outside", Type: ledgertransaction.TypeREFUND, Description: "Refund made outside"})
		}); err != nil {
			t.Fatal(err)
		}
		credit("dep:2", customer, 3000)
		end := time.Now().Add(time.Minute)
		requireVerified(t, app)

		whole := statementOf(t, app, customer, start, end)
		requireClosingIsWallet(t, app, whole, customer)
		if whole.OpeningAvailable != 0 || whole.OpeningEscrow != 0 || whole.OpeningOwed != 0 ||
			whole.ClosingAvailable != 0 || whole.ClosingEscrow != 0 || whole.ClosingOwed != 7500 {
			t.Fatalf("customer's statement: %+v", whole)
		}
		type shown struct {
			typ           ledgertransaction.Type
			account       string
			amount, after int64
		}
		want := []shown{
			{ledgertransaction.TypeDEPOSIT, ledger.StatementAvailable, 20000, 20000},
			{ledgertransaction.TypeESCROW_HOLD, ledger.StatementAvailable, -10500, 9500},
			{ledgertransaction.TypeESCROW_HOLD, ledger.StatementEscrow, 10500, 10500},
			{ledgertransaction.TypePLATFORM_FEE, ledger.StatementEscrow, -500, 10000},
			{ledgertransaction.TypeSERVICE_FEE, ledger.StatementEscrow, -1000, 9000},
			{ledgertransaction.TypeCONTRACTOR_PAYOUT, ledger.StatementEscrow, -9000, 0},
			{ledgertransaction.TypeREFUND, ledger.StatementAvailable, -9500, 0},
			{ledgertransaction.TypeREFUND, ledger.StatementOwed, 10500, 10500},
			{ledgertransaction.TypeDEPOSIT, ledger.StatementOwed, -3000, 7500},
		}
		if len(whole.Lines) != len(want) {
			t.Fatalf("%d lines, want %d: %+v", len(whole.Lines), len(want), whole.Lines)
		}
		for i, l := range whole.Lines {
			if got := (shown{l.Type, l.Account, l.Amount, l.BalanceAfter}); got != want[i] {
				t.Errorf("line %d: %+v, want %+v", i, got, want[i])
			}
			if l.Transaction == nil || l.Transaction.ID != l.TransactionID || l.Transaction.Description != l.Description ||
				!l.Transaction.CreatedAt.Equal(l.Time) || l.Time.Before(start) || !l.Time.Before(end) {
				t.Errorf("line %d: transaction %+v for %s at %s", i, l.Transaction, l.TransactionID, l.Time)
			}
		}
		if whole.User == nil || whole.User.ID != customer {
			t.Errorf("statement of %v, want %s", whole.User, customer)
		}

		// Split at the moment between accept and release: they join up.
		before, after := statementOf(t, app, customer, start, middle), statementOf(t, app, customer, middle, end)
		if len(before.Lines)+len(after.Lines) != len(whole.Lines) ||
			before.ClosingAvailable != after.OpeningAvailable || before.ClosingEscrow != after.OpeningEscrow || before.ClosingOwed != after.OpeningOwed ||
			after.OpeningEscrow != 10000 || after.OpeningAvailable != 9500 {
			t.Fatalf("split statements do not join: before %+v, after %+v", before, after)
		}
		requireClosingIsWallet(t, app, after, customer)

		// The contractor's: their deposit and the payout.
		theirs := statementOf(t, app, contractor, start, end)
		requireClosingIsWallet(t, app, theirs, contractor)
		if len(theirs.Lines) != 2 || theirs.ClosingAvailable != 9500 {
			t.Fatalf("contractor's statement: %+v", theirs)
		}
		// A period after everything: no lines, opening = closing = wallet.
		later := statementOf(t, app, customer, end, end.Add(time.Hour))
		requireClosingIsWallet(t, app, later, customer)
		if len(later.Lines) != 0 || later.OpeningOwed != later.ClosingOwed {
			t.Fatalf("statement after the last transaction: %+v", later)
		}

		// Refusals.
		if _, err := app.Ledger.Statement(ctx, customer, end, end); jobsphere.ErrorCode(err) != jobsphere.BadUserInput {
			t.Errorf("an empty period: %v", err)
		}
		if _, err := app.Ledger.Statement(ctx, customer, end, start); jobsphere.ErrorCode(err) != jobsphere.BadUserInput {
			t.Errorf("to before from: %v", err)
		}
		if _, err := app.Ledger.Statement(ctx, "usr_01J0000000000000000000000Z", start, end); jobsphere.ErrorCode(err) != jobsphere.NotFound {
			t.Errorf("an unknown user: %v", err)
		}
	})
}

// More than MaxStatementLines lines are BAD_USER_INPUT pointing to the
// CSV export; streaming them has no limit and closes at the wallet.
func TestStatementLineLimit(t *testing.T) {
	dbtest.EachDatabase(t, func(t *testing.T, db dbtest.Database) {
		app := newWorld(t, db)
		ctx := context.Background()
		user := newUser(t, app, role.Customer)
		start := time.Now().Add(-time.Hour)
		// Two thirds deposits and holds: 2n/3 transactions make n lines.
		n := ledger.MaxStatementLines*2/3 + 2
		h, err := ledgertest.WriteHistory(ctx, app.Client, user, n, start, time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if h.Lines <= ledger.MaxStatementLines {
			t.Fatalf("history of %d lines", h.Lines)
		}
		requireVerified(t, app)
		_, err = app.Ledger.Statement(ctx, user, start, time.Now())
		if jobsphere.ErrorCode(err) != jobsphere.BadUserInput || !strings.Contains(err.Error(), "/api/statements.csv") {
			t.Fatalf("a statement of %d lines: %v", h.Lines, err)
		}
		lines := 0
		s, err := app.Ledger.StreamStatement(ctx, user, start, time.Now(), func(ledger.StatementLine) error { lines++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if lines != h.Lines {
			t.Fatalf("streamed %d lines of %d", lines, h.Lines)
		}
		requireClosingIsWallet(t, app, s, user)
	})
}
