package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgeraccount"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/posting"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// A statement is what happened to a user's money over a period [from, to),
// read from the postings alone (the wallet's cached columns are not used):
// for each of the user's three accounts the opening balance (the sum of its
// postings in transactions written before from), one line per posting of a
// transaction written in the period, in the order written, with the
// balance after it, and the closing balance (opening plus the lines).
// A transaction belongs to the period by its created_at, so its postings
// are all in or all out.

// The accounts a statement shows, by the names on its lines.
const (
	StatementAvailable = "AVAILABLE" // spendable money: the wallet's balance
	StatementEscrow    = "ESCROW"    // held money: the wallet's escrowBalance
	// StatementOwed is what the user owes, the wallet's amountOwed: the
	// negative of their RECEIVABLE account, so money owed is positive.
	StatementOwed = "OWED"
)

// MaxStatementLines is the most lines Statement answers with. A longer
// period is BAD_USER_INPUT pointing to the CSV export (StreamStatement),
// which streams any number.
const MaxStatementLines = 10_000

// StatementLine is one posting on a statement.
type StatementLine struct {
	TransactionID pulid.ID
	Time          time.Time // when the transaction was written
	Type          ledgertransaction.Type
	Description   string
	Account       string // StatementAvailable, StatementEscrow or StatementOwed
	// Amount is the change to the account as shown: positive adds to it
	// (for OWED: more is owed), negative takes from it.
	Amount       int64
	BalanceAfter int64
	// Transaction is the whole transaction: set by Statement, nil for
	// the lines StreamStatement streams.
	Transaction *ent.LedgerTransaction
}

// Statement is a user's statement for [From, To). Amounts are in minor
// units, owed as a positive amount.
type Statement struct {
	User                               *ent.User // set by Statement, nil from StreamStatement
	From, To                           time.Time
	OpeningAvailable, ClosingAvailable int64
	OpeningEscrow, ClosingEscrow       int64
	OpeningOwed, ClosingOwed           int64
	Lines                              []StatementLine // set by Statement, nil from StreamStatement
}

// Statement is the user's statement for [from, to) with its lines and
// their transactions: at most MaxStatementLines lines, beyond which it is
// BAD_USER_INPUT (the CSV export has no limit).
func (l *Ledger) Statement(ctx context.Context, userID pulid.ID, from, to time.Time) (*Statement, error) {
	var lines []StatementLine
	s, err := l.StreamStatement(ctx, userID, from, to, func(line StatementLine) error {
		if len(lines) == MaxStatementLines {
			return jobsphere.InvalidInput(jobsphere.FieldError{Field: "to", Message: fmt.Sprintf(
				"The statement has more than %d lines: choose a shorter period, or download all of it as CSV (GET /api/statements.csv)", MaxStatementLines)})
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		return nil, err
	}
	ids := make([]pulid.ID, len(lines))
	for i, line := range lines {
		ids[i] = line.TransactionID
	}
	txns, err := l.client.LedgerTransaction.Query().Where(ledgertransaction.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the statement's transactions: %w", err)
	}
	byID := make(map[pulid.ID]*ent.LedgerTransaction, len(txns))
	for _, t := range txns {
		byID[t.ID] = t
	}
	for i := range lines {
		lines[i].Transaction = byID[lines[i].TransactionID]
	}
	s.Lines = lines
	if s.User, err = l.client.User.Get(ctx, userID); err != nil {
		return nil, fmt.Errorf("read the statement's user: %w", err)
	}
	return s, nil
}

// StreamStatement calls each with every line of the user's statement for
// [from, to), in order, as the rows come from a database cursor: memory
// stays flat whatever the number of lines. It returns the statement's
// opening and closing balances (no lines, no user). The openings and the
// lines are read in one read-only transaction, so they are of one
// snapshot. An error before the first line (a bad period: BAD_USER_INPUT;
// an unknown user: NOT_FOUND) means nothing was streamed; an error of
// each ends the stream and is returned as it is.
func (l *Ledger) StreamStatement(ctx context.Context, userID pulid.ID, from, to time.Time, each func(StatementLine) error) (*Statement, error) {
	if !from.Before(to) {
		return nil, jobsphere.InvalidInput(jobsphere.FieldError{Field: "to", Message: "A statement's to must be after its from"})
	}
	s := &Statement{From: from, To: to}
	// SQLite compares times as text, which the server writes in its local
	// zone; PostgreSQL compares instants either way.
	from, to = from.In(time.Local), to.In(time.Local)
	tx, err := l.client.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("begin the statement's read: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	accounts, err := l.statementAccounts(ctx, tx.Client(), userID)
	if err != nil {
		return nil, err
	}
	if err := l.openingBalances(ctx, tx.Client(), accounts, from); err != nil {
		return nil, err
	}
	if err := l.streamLines(ctx, tx.Client(), accounts, from, to, each); err != nil {
		return nil, err
	}
	for _, a := range accounts {
		switch a.name {
		case StatementAvailable:
			s.OpeningAvailable, s.ClosingAvailable = a.opening, a.balance
		case StatementEscrow:
			s.OpeningEscrow, s.ClosingEscrow = a.opening, a.balance
		case StatementOwed:
			s.OpeningOwed, s.ClosingOwed = a.opening, a.balance
		}
	}
	return s, nil
}

// shownAccount is one of the user's accounts as a statement shows it.
type shownAccount struct {
	name             string
	sign             int64 // what a posting does to the balance shown: -1 for OWED
	opening, balance int64
}

var shownKinds = map[ledgeraccount.Kind]shownAccount{
	ledgeraccount.KindAVAILABLE:  {name: StatementAvailable, sign: 1},
	ledgeraccount.KindESCROW:     {name: StatementEscrow, sign: 1},
	ledgeraccount.KindRECEIVABLE: {name: StatementOwed, sign: -1},
}

// statementAccounts are the user's accounts by id. A user without them
// (no wallet) is NOT_FOUND; a RECEIVABLE not made yet (see Post) has no
// postings and so shows nothing owed.
func (l *Ledger) statementAccounts(ctx context.Context, tx *ent.Client, userID pulid.ID) (map[pulid.ID]*shownAccount, error) {
	rows, err := tx.LedgerAccount.Query().
		Where(ledgeraccount.UserID(userID), ledgeraccount.KindIn(ledgeraccount.KindAVAILABLE, ledgeraccount.KindESCROW, ledgeraccount.KindRECEIVABLE)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the accounts of %s: %w", userID, err)
	}
	if len(rows) == 0 {
		return nil, jobsphere.Errorf(jobsphere.NotFound, "User not found")
	}
	out := make(map[pulid.ID]*shownAccount, len(rows))
	for _, r := range rows {
		a := shownKinds[r.Kind]
		out[r.ID] = &a
	}
	return out, nil
}

// openingBalances sets each account's opening (and running) balance: its
// postings in transactions written before from.
func (l *Ledger) openingBalances(ctx context.Context, tx *ent.Client, accounts map[pulid.ID]*shownAccount, from time.Time) error {
	var sums []struct {
		AccountID pulid.ID      `json:"account_id"`
		Sum       sql.NullInt64 `json:"sum"`
	}
	err := tx.Posting.Query().
		Where(posting.AccountIDIn(accountIDs(accounts)...), posting.HasTransactionWith(ledgertransaction.CreatedAtLT(from))).
		GroupBy(posting.FieldAccountID).Aggregate(ent.As(ent.Sum(posting.FieldAmount), "sum")).Scan(ctx, &sums)
	if err != nil {
		return fmt.Errorf("sum the postings before the statement: %w", err)
	}
	for _, s := range sums {
		a := accounts[s.AccountID]
		a.opening = a.sign * s.Sum.Int64
		a.balance = a.opening
	}
	return nil
}

// streamLines iterates the period's postings on accounts with a database
// cursor and calls each with every line, keeping the running balances.
func (l *Ledger) streamLines(ctx context.Context, tx *ent.Client, accounts map[pulid.ID]*shownAccount, from, to time.Time, each func(StatementLine) error) error {
	b := entsql.Dialect(l.dialect())
	p, t := b.Table(posting.Table).As("p"), b.Table(ledgertransaction.Table).As("t")
	ids := accountIDs(accounts)
	in := make([]any, len(ids))
	for i, id := range ids {
		in[i] = id
	}
	created := t.C(ledgertransaction.FieldCreatedAt)
	query, args := b.Select(p.C(posting.FieldAccountID), p.C(posting.FieldAmount), t.C(ledgertransaction.FieldID), created,
		t.C(ledgertransaction.FieldType), t.C(ledgertransaction.FieldDescription)).
		From(p).Join(t).On(p.C(posting.FieldTransactionID), t.C(ledgertransaction.FieldID)).
		Where(entsql.And(entsql.In(p.C(posting.FieldAccountID), in...), entsql.GTE(created, from), entsql.LT(created, to))).
		// Written order: a transaction's time, then ids (ULIDs, which
		// grow within a transaction as its postings are written).
		OrderBy(created, t.C(ledgertransaction.FieldID), p.C(posting.FieldID)).
		Query()
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read the statement's postings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			line      StatementLine
			accountID pulid.ID
			amount    int64
		)
		if err := rows.Scan(&accountID, &amount, &line.TransactionID, &line.Time, &line.Type, &line.Description); err != nil {
			return fmt.Errorf("read a statement posting: %w", err)
		}
		a := accounts[accountID]
		a.balance += a.sign * amount
		line.Account, line.Amount, line.BalanceAfter = a.name, a.sign*amount, a.balance
		if err := each(line); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the statement's postings: %w", err)
	}
	return nil
}

func accountIDs(accounts map[pulid.ID]*shownAccount) []pulid.ID {
	ids := make([]pulid.ID, 0, len(accounts))
	for id := range accounts {
		ids = append(ids, id)
	}
	return ids
}

// dialect is the database's SQL dialect, for the queries ent's builders
// cannot stream: the ledger takes row locks exactly on PostgreSQL.
func (l *Ledger) dialect() string {
	if l.rowLocks {
		return dialect.Postgres
	}
	return dialect.SQLite
}
