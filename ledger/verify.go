package ledger

import (
	"context"
	"fmt"
	"io"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/chargeback"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/fraudwarning"
	"github.com/jobsphere/jobsphere/ent/ledgeraccount"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/posting"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// Report is what Verify found.
type Report struct {
	Transactions, Postings, Accounts, Wallets int
	// Totals by account kind, in minor units; they sum to zero.
	Available, Escrow, Receivable, Revenue, Losses, External int64
	Problems                                                 []string
}

// OK reports whether the ledger is consistent.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Print writes the report for people.
func (r *Report) Print(w io.Writer, fmtAmount func(int64) string) {
	fmt.Fprintf(w, "transactions %d, postings %d, accounts %d, wallets %d\n", r.Transactions, r.Postings, r.Accounts, r.Wallets)
	fmt.Fprintf(w, "available %s, escrow %s, receivable %s, revenue %s, losses %s, external %s\n",
		fmtAmount(r.Available), fmtAmount(r.Escrow), fmtAmount(r.Receivable), fmtAmount(r.Revenue), fmtAmount(r.Losses), fmtAmount(r.External))
	if r.OK() {
		fmt.Fprintln(w, "ledger OK: every transaction balances, no account is on the wrong side of zero, every wallet matches its postings and its freeze, every job agrees with its contract and escrow")
		return
	}
	fmt.Fprintf(w, "ledger has %d problem(s):\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintln(w, "  -", p)
	}
}

// Verify recomputes everything the wallets cache from the postings and
// checks the invariants listed in the package comment. It reads a
// consistent snapshot only when the database is quiet; run it after the
// writers stop (tests, maintenance windows).
func (l *Ledger) Verify(ctx context.Context) (*Report, error) {
	r := &Report{}
	accounts, err := l.allAccounts(ctx, l.client)
	if err != nil {
		return nil, err
	}
	r.Accounts = len(accounts)
	txns, err := l.client.LedgerTransaction.Query().
		Select(ledgertransaction.FieldID, ledgertransaction.FieldType, ledgertransaction.FieldReversalOfID).All(ctx)
	if err != nil {
		return nil, err
	}
	r.Transactions = len(txns)
	postings, err := l.client.Posting.Query().
		Order(posting.ByTransactionID(), posting.ByMove(), posting.ByAmount()).All(ctx)
	if err != nil {
		return nil, err
	}
	r.Postings = len(postings)

	byTxn := map[pulid.ID][]*ent.Posting{}
	balances := map[pulid.ID]int64{}
	var total int64
	for _, p := range postings {
		byTxn[p.TransactionID] = append(byTxn[p.TransactionID], p)
		balances[p.AccountID] += p.Amount
		total += p.Amount
	}
	if total != 0 {
		r.problem("all postings sum to %d, not 0", total)
	}

	want := map[pulid.ID]*walletEffect{}
	for _, t := range txns {
		moves, err := pairMoves(byTxn[t.ID], accounts)
		if err != nil {
			r.problem("transaction %s: %v", t.ID, err)
			continue
		}
		for _, e := range effects(t.Type, t.ReversalOfID != nil, moves) {
			w := want[e.userID]
			if w == nil {
				w = &walletEffect{userID: e.userID}
				want[e.userID] = w
			}
			w.add(e)
		}
	}

	for id, a := range accounts {
		bal := balances[id]
		switch a.Kind {
		case ledgeraccount.KindAVAILABLE:
			r.Available += bal
		case ledgeraccount.KindESCROW:
			r.Escrow += bal
		case ledgeraccount.KindREVENUE:
			r.Revenue += bal
		case ledgeraccount.KindRECEIVABLE, ledgeraccount.KindLOSSES:
			if a.Kind == ledgeraccount.KindRECEIVABLE {
				r.Receivable += bal
			} else {
				r.Losses += bal
			}
			if bal > 0 {
				r.problem("account %s is positive: %d", a.Code(), bal)
			}
			continue
		case ledgeraccount.KindEXTERNAL:
			r.External += bal
			continue
		}
		if bal < 0 {
			r.problem("account %s is negative: %d", a.Code(), bal)
		}
	}

	if err := l.verifyWallets(ctx, r, want); err != nil {
		return nil, err
	}
	if err := l.verifyStates(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (l *Ledger) verifyWallets(ctx context.Context, r *Report, want map[pulid.ID]*walletEffect) error {
	wallets, err := l.client.Wallet.Query().All(ctx)
	if err != nil {
		return err
	}
	r.Wallets = len(wallets)
	var pending []struct {
		UserID pulid.ID `json:"user_id"`
		Sum    int64    `json:"sum"`
	}
	err = l.client.Deposit.Query().
		Where(deposit.StatusIn(deposit.StatusPENDING, deposit.StatusREQUIRES_ACTION)).
		GroupBy(deposit.FieldUserID).Aggregate(ent.As(ent.Sum(deposit.FieldAmount), "sum")).Scan(ctx, &pending)
	if err != nil {
		return err
	}
	pendingByUser := map[pulid.ID]int64{}
	for _, p := range pending {
		pendingByUser[p.UserID] = p.Sum
	}
	chargebacks, warnings, err := l.openCases(ctx)
	if err != nil {
		return err
	}
	seen := map[pulid.ID]bool{}
	for _, w := range wallets {
		seen[w.UserID] = true
		e := want[w.UserID]
		if e == nil {
			e = &walletEffect{}
		}
		for _, c := range []struct {
			name       string
			got, wantV int64
		}{
			{"balance", w.Balance, e.available},
			{"escrowBalance", w.EscrowBalance, e.escrow},
			{"amountOwed", w.AmountOwed, e.owed},
			{"totalEarnings", w.TotalEarnings, e.earnings},
			{"totalSpent", w.TotalSpent, e.spent},
			{"totalWithdrawals", w.TotalWithdrawals, e.withdrawals},
			{"pendingDeposits", w.PendingDeposits, pendingByUser[w.UserID]},
		} {
			if c.got != c.wantV {
				r.problem("wallet %s of %s: cached %s %d, postings say %d", w.ID, w.UserID, c.name, c.got, c.wantV)
			}
		}
		if w.ChargebackOpen != chargebacks[w.UserID] || w.FraudWarningOpen != warnings[w.UserID] {
			r.problem("wallet %s of %s: holds an open chargeback %v and fraud warning %v, its cases say %v and %v",
				w.ID, w.UserID, w.ChargebackOpen, w.FraudWarningOpen, chargebacks[w.UserID], warnings[w.UserID])
		}
		if want := holdsOf(w).reason(); orNil(want) != orNil(w.FrozenReason) || w.IsFrozen != (want != nil) {
			r.problem("wallet %s of %s: frozen %v for %s, its reasons say %s (owes %d, admin note %v, chargeback open %v, fraud warning %v)",
				w.ID, w.UserID, w.IsFrozen, orNil(w.FrozenReason), orNil(want), w.AmountOwed, w.FrozenNote != nil, w.ChargebackOpen, w.FraudWarningOpen)
		}
	}
	for u := range want {
		if !seen[u] {
			r.problem("user %s has postings but no wallet", u)
		}
	}
	return nil
}

// openCases are the users with a chargeback OPEN, and those with an early
// fraud warning unresolved.
func (l *Ledger) openCases(ctx context.Context) (chargebacks, warnings map[pulid.ID]bool, err error) {
	cbs, err := l.client.Chargeback.Query().Where(chargeback.StatusEQ(chargeback.StatusOPEN)).
		Select(chargeback.FieldCustomerID).Strings(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read open chargebacks: %w", err)
	}
	efws, err := l.client.FraudWarning.Query().Where(fraudwarning.ResolvedAtIsNil()).
		Select(fraudwarning.FieldCustomerID).Strings(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read open fraud warnings: %w", err)
	}
	chargebacks, warnings = map[pulid.ID]bool{}, map[pulid.ID]bool{}
	for _, u := range cbs {
		chargebacks[pulid.ID(u)] = true
	}
	for _, u := range efws {
		warnings[pulid.ID(u)] = true
	}
	return chargebacks, warnings, nil
}

// allAccounts maps account ids to accounts.
func (l *Ledger) allAccounts(ctx context.Context, c *ent.Client, ids ...pulid.ID) (map[pulid.ID]Account, error) {
	q := c.LedgerAccount.Query()
	if len(ids) > 0 {
		q.Where(ledgeraccount.IDIn(ids...))
	}
	rows, err := q.All(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[pulid.ID]Account, len(rows))
	for _, a := range rows {
		out[a.ID] = Account{Kind: a.Kind, UserID: deref(a.UserID)}
	}
	return out, nil
}

// movesOf rebuilds a transaction's moves from its postings.
func (l *Ledger) movesOf(ctx context.Context, c *ent.Client, postings []*ent.Posting) ([]Move, error) {
	ids := make([]pulid.ID, len(postings))
	for i, p := range postings {
		ids[i] = p.AccountID
	}
	accounts, err := l.allAccounts(ctx, c, ids...)
	if err != nil {
		return nil, err
	}
	return pairMoves(postings, accounts)
}

// pairMoves checks that postings form pairs (one debit, one equal credit
// per move index) and returns the moves in index order.
func pairMoves(postings []*ent.Posting, accounts map[pulid.ID]Account) ([]Move, error) {
	if len(postings) < 2 {
		return nil, fmt.Errorf("has %d posting(s), needs at least 2", len(postings))
	}
	pairs := map[int][]*ent.Posting{}
	maxMove := 0
	for _, p := range postings {
		pairs[p.Move] = append(pairs[p.Move], p)
		maxMove = max(maxMove, p.Move)
	}
	moves := make([]Move, 0, len(pairs))
	for i := 0; i <= maxMove; i++ {
		pair := pairs[i]
		if len(pair) != 2 {
			return nil, fmt.Errorf("move %d has %d posting(s)", i, len(pair))
		}
		debit, credit := pair[0], pair[1]
		if debit.Amount > credit.Amount {
			debit, credit = credit, debit
		}
		if debit.Amount != -credit.Amount || credit.Amount <= 0 {
			return nil, fmt.Errorf("move %d does not balance: %d and %d", i, debit.Amount, credit.Amount)
		}
		moves = append(moves, Move{From: accounts[debit.AccountID], To: accounts[credit.AccountID], Amount: credit.Amount})
	}
	return moves, nil
}

func orNil[T ~string](p *T) string {
	if p == nil {
		return "none"
	}
	return string(*p)
}
