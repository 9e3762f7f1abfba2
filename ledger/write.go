package ledger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/posting"
	"github.com/jobsphere/jobsphere/ent/predicate"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/wallet"
)

// toWrite is an entry made ready to write: its transaction row as it will
// be written (the answer needs no read of it), its postings, and what it
// does to the wallets.
type toWrite struct {
	at       int // the entry's index among those posted together
	txn      *ent.LedgerTransaction
	postings []*ent.Posting
	effects  []walletEffect
	accounts map[Account]pulid.ID
}

// prepare makes entry e (the at-th posted) ready to write, its moves'
// accounts resolved to ids.
func (l *Ledger) prepare(at int, e Entry, hash string, ids map[Account]pulid.ID) toWrite {
	t := &ent.LedgerTransaction{
		// At the database's precision: a replay answers the same times.
		ID: pulid.New("txn"), CreatedAt: time.Now().Truncate(time.Microsecond),
		IdempotencyKey: e.Key, RequestHash: hash, Type: e.Type, Status: e.Status,
		Currency: strings.ToUpper(l.currency.Code), Description: e.Description,
		JobID: nilIfEmpty(e.JobID), OfferID: nilIfEmpty(e.OfferID), ContractID: nilIfEmpty(e.ContractID), ReversalOfID: nilIfEmpty(e.reversalOf),
		StripePaymentIntentID: nilIfEmpty(e.StripePaymentIntentID), StripeCheckoutSessionID: nilIfEmpty(e.StripeCheckoutSessionID),
		StripeTransferID: nilIfEmpty(e.StripeTransferID),
	}
	for _, m := range e.Moves {
		t.Amount += m.Amount
	}
	if t.Status == "" {
		t.Status = ledgertransaction.StatusCOMPLETED
	}
	if t.Status == ledgertransaction.StatusCOMPLETED {
		t.CompletedAt = &t.CreatedAt
	}
	from, to := parties(e.Moves)
	t.FromUserID, t.ToUserID = nilIfEmpty(from), nilIfEmpty(to)
	w := toWrite{at: at, txn: t, accounts: ids, effects: effects(e.Type, e.reversalOf != "", e.Moves)}
	for j, m := range e.Moves {
		for _, side := range []struct {
			account pulid.ID
			amount  int64
		}{{ids[m.From], -m.Amount}, {ids[m.To], m.Amount}} {
			w.postings = append(w.postings, &ent.Posting{ID: pulid.New("pst"), CreatedAt: t.CreatedAt,
				TransactionID: t.ID, AccountID: side.account, Amount: side.amount, Move: j})
		}
	}
	if e.Unpends > 0 {
		w.effects = unpend(w.effects, e)
	}
	return w
}

// write inserts the transactions and their postings and says which
// transactions it inserted (by id): not one whose key was posted before,
// or by a concurrent transaction first. ON CONFLICT DO NOTHING on the key:
// of two concurrent posts of one key, the second waits for the first and
// then writes nothing, instead of aborting the caller's transaction with a
// constraint error. On PostgreSQL it also changes the wallets, as far as
// their guards let it: walletsDone is how many of mergeEffects' list of
// the inserted transactions' effects it made.
func (l *Ledger) write(ctx context.Context, tx *ent.Client, writes []toWrite, forced bool) (inserted map[pulid.ID]bool, walletsDone int, err error) {
	if l.rowLocks && !changesOwed(writes) {
		return l.writeAtOnce(ctx, tx, writes, forced)
	}
	inserted = map[pulid.ID]bool{}
	var postings []*ent.PostingCreate
	for _, w := range writes {
		query, args := transactionsInsert(l.dialect(), w).Query()
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return nil, 0, fmt.Errorf("insert transaction %s: %w", w.txn.IdempotencyKey, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return nil, 0, err
			}
			continue
		}
		inserted[w.txn.ID] = true
		for _, p := range w.postings {
			postings = append(postings, tx.Posting.Create().SetID(p.ID).SetCreatedAt(p.CreatedAt).
				SetTransactionID(p.TransactionID).SetAccountID(p.AccountID).SetAmount(p.Amount).SetMove(p.Move))
		}
	}
	if len(postings) > 0 {
		if err := tx.Posting.CreateBulk(postings...).Exec(ctx); err != nil {
			return nil, 0, fmt.Errorf("insert postings: %w", err)
		}
	}
	return inserted, 0, nil
}

// changesOwed: some entry changes what a user owes, which reads the
// wallet under its lock first (applyToWallets), so it is not written at
// once.
func changesOwed(writes []toWrite) bool {
	for _, w := range writes {
		for _, eff := range w.effects {
			if eff.owed != 0 {
				return true
			}
		}
	}
	return false
}

// writeAtOnce is write on PostgreSQL, in one statement of data-modifying
// CTEs, with every guarantee of the statements it replaces:
//
//	WITH txn AS (INSERT INTO ledger_transactions … ON CONFLICT DO NOTHING RETURNING id),
//	     posting AS (INSERT INTO postings … SELECT … WHERE transaction_id IN (SELECT id FROM txn)),
//	     w0 AS (UPDATE wallets … WHERE <guards> AND (SELECT count(*) FROM txn) = <all> RETURNING user_id),
//	     w1 AS (UPDATE wallets … WHERE <guards> AND EXISTS (SELECT 1 FROM w0) RETURNING user_id), …
//	SELECT 'txn', id FROM txn UNION ALL SELECT 'wallet', user_id FROM w0 UNION ALL …
//
// Postings are written for the transactions inserted only. The wallets are
// changed only when every transaction was inserted (a replay changes
// none), each by its conditional update, and each only after the one
// before it matched: so in the lock order (mergeEffects sorts them), and
// the first that its guards refuse leaves the rest unchanged for
// applyToWallets to try and to say why. The rows' foreign keys take their
// KEY SHARE locks (on users, jobs, offers, contracts, accounts) at the
// statement's end, after the wallets': that cannot deadlock, since
// nothing that waits for a wallet holds such a row FOR UPDATE.
func (l *Ledger) writeAtOnce(ctx context.Context, tx *ent.Client, writes []toWrite, forced bool) (inserted map[pulid.ID]bool, walletsDone int, err error) {
	b := entsql.Dialect(dialect.Postgres)
	var effs [][]walletEffect
	for _, w := range writes {
		effs = append(effs, w.effects)
	}
	stmt := &entsql.Builder{}
	stmt.SetDialect(dialect.Postgres)
	stmt.WriteString("WITH txn AS (").Join(transactionsInsert(dialect.Postgres, writes...).Returning(ledgertransaction.FieldID))
	stmt.WriteString("), posting AS (INSERT INTO ").Ident(posting.Table).WriteByte(' ')
	stmt.Wrap(func(c *entsql.Builder) { c.IdentComma(postingColumns...) })
	stmt.WriteString(" SELECT * FROM (VALUES ")
	first := true
	for _, w := range writes {
		for _, p := range w.postings {
			if !first {
				stmt.Comma()
			}
			first = false
			stmt.Wrap(func(r *entsql.Builder) {
				// VALUES has no column types of its own to give its arguments.
				r.Arg(p.ID).WriteString("::text, ").Arg(p.CreatedAt).WriteString("::timestamptz, ").
					Arg(p.TransactionID).WriteString("::text, ").Arg(p.AccountID).WriteString("::text, ").
					Arg(p.Amount).WriteString("::bigint, ").Arg(p.Move).WriteString("::bigint")
			})
		}
	}
	stmt.WriteString(") AS v ")
	stmt.Wrap(func(c *entsql.Builder) { c.IdentComma(postingColumns...) })
	stmt.WriteString(" WHERE ").Ident(posting.FieldTransactionID).WriteString(" IN (SELECT id FROM txn))")
	merged := mergeEffects(effs)
	now := time.Now()
	for k, w := range merged {
		gate := entsql.P(func(g *entsql.Builder) {
			if k == 0 {
				g.WriteString("(SELECT count(*) FROM txn) = ").Arg(len(writes))
			} else {
				g.WriteString(fmt.Sprintf("EXISTS (SELECT 1 FROM w%d)", k-1))
			}
		})
		u := b.Update(wallet.Table).Set(wallet.FieldUpdatedAt, now)
		for _, c := range w.changes() {
			u.Add(c.column, c.by)
		}
		u.Where(entsql.And(walletSelection(w.guards(forced)), gate)).Returning(wallet.FieldUserID)
		stmt.WriteString(fmt.Sprintf(", w%d AS (", k)).Join(u).WriteString(")")
	}
	stmt.WriteString(" SELECT 'txn', id FROM txn")
	for k := range merged {
		stmt.WriteString(fmt.Sprintf(" UNION ALL SELECT 'wallet', user_id FROM w%d", k))
	}
	if err := stmt.Err(); err != nil {
		return nil, 0, fmt.Errorf("build the post: %w", err)
	}
	query, args := stmt.Query()
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("write the post: %w", err)
	}
	defer rows.Close()
	inserted = map[pulid.ID]bool{}
	for rows.Next() {
		var what, id string
		if err := rows.Scan(&what, &id); err != nil {
			return nil, 0, fmt.Errorf("read the post: %w", err)
		}
		if what == "txn" {
			inserted[pulid.ID(id)] = true
		} else {
			walletsDone++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("write the post: %w", err)
	}
	return inserted, walletsDone, nil
}

// postingColumns are the columns a posting is written with, in the order
// writeAtOnce gives them.
var postingColumns = []string{posting.FieldID, posting.FieldCreatedAt, posting.FieldTransactionID,
	posting.FieldAccountID, posting.FieldAmount, posting.FieldMove}

// transactionsInsert inserts the writes' transaction rows, skipping a key
// posted before, in the order of their keys: an insert waits for a
// concurrent one of its key, so two posts of the same keys wait for each
// other in one order instead of deadlocking.
func transactionsInsert(d string, writes ...toWrite) *entsql.InsertBuilder {
	writes = slices.SortedFunc(slices.Values(writes), func(a, b toWrite) int {
		return strings.Compare(a.txn.IdempotencyKey, b.txn.IdempotencyKey)
	})
	ins := entsql.Dialect(d).Insert(ledgertransaction.Table).Columns(
		ledgertransaction.FieldID, ledgertransaction.FieldCreatedAt,
		ledgertransaction.FieldIdempotencyKey, ledgertransaction.FieldRequestHash,
		ledgertransaction.FieldType, ledgertransaction.FieldStatus, ledgertransaction.FieldAmount,
		ledgertransaction.FieldCurrency, ledgertransaction.FieldDescription, ledgertransaction.FieldCompletedAt,
		ledgertransaction.FieldFromUserID, ledgertransaction.FieldToUserID,
		ledgertransaction.FieldJobID, ledgertransaction.FieldOfferID, ledgertransaction.FieldContractID,
		ledgertransaction.FieldReversalOfID, ledgertransaction.FieldStripePaymentIntentID,
		ledgertransaction.FieldStripeCheckoutSessionID, ledgertransaction.FieldStripeTransferID)
	for _, w := range writes {
		t := w.txn
		ins.Values(t.ID, t.CreatedAt, t.IdempotencyKey, t.RequestHash, t.Type, t.Status, t.Amount,
			t.Currency, t.Description, t.CompletedAt, t.FromUserID, t.ToUserID,
			t.JobID, t.OfferID, t.ContractID, t.ReversalOfID, t.StripePaymentIntentID,
			t.StripeCheckoutSessionID, t.StripeTransferID)
	}
	return ins.OnConflict(entsql.ConflictColumns(ledgertransaction.FieldIdempotencyKey), entsql.DoNothing())
}

// walletSelection is the predicates as a condition of a statement on the
// wallets table.
func walletSelection(ps []predicate.Wallet) *entsql.Predicate {
	s := entsql.Dialect(dialect.Postgres).Select().From(entsql.Table(wallet.Table))
	for _, p := range ps {
		p(s)
	}
	return s.P()
}
