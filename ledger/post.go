package ledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgeraccount"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/posting"
	"github.com/jobsphere/jobsphere/ent/predicate"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/wallet"
)

// Move takes Amount (minor units, > 0) from one account to another; it
// becomes a pair of postings, -Amount on From and +Amount on To.
type Move struct {
	From, To Account
	Amount   int64
}

// Entry is one money movement to post.
type Entry struct {
	// Key is unique per movement: derived from the record that causes it
	// ("offer:ofr_…:hold"), so a retry of the same cause posts nothing new.
	Key         string
	Type        ledgertransaction.Type
	Status      ledgertransaction.Status // COMPLETED when empty
	Description string
	Moves       []Move

	JobID, OfferID, ContractID pulid.ID // links shown in the history; may be empty

	StripePaymentIntentID, StripeCheckoutSessionID, StripeTransferID string

	// Forced: the outside world takes this money (a refund made in
	// Stripe's Dashboard, a chargeback), so a freeze does not stop its
	// debit of available money. Not part of the request's fingerprint: it
	// says how the entry is posted, not what it moves.
	Forced bool

	// Unpends: a deposit this entry credits was pending, for this amount:
	// the credited user's pendingDeposits drops by it in the same update
	// of their wallet. Not part of the fingerprint either.
	Unpends int64

	reversalOf pulid.ID
	// movesOfWallet: the moves were made from the wallet as it is now
	// (postSplit), so a replay returns the first post whatever its moves.
	movesOfWallet bool
}

// Posted is the result of Post.
type Posted struct {
	Transaction *ent.LedgerTransaction
	// Replayed: the key had been posted before with the same request;
	// Transaction is that first result and nothing new was written.
	Replayed bool
}

// Post writes the entry in the caller's database transaction: tx must be
// the client of an open ent.Tx. A key seen before with the same request
// returns the first result; with a different request, CONFLICT. A debit
// the wallet cannot cover is INSUFFICIENT_FUNDS, a debit of a frozen
// wallet's available money WALLET_FROZEN. On any error, these included,
// the caller rolls back: part of the entry may have been written.
func (l *Ledger) Post(ctx context.Context, tx *ent.Client, e Entry) (*Posted, error) {
	posted, err := l.PostAll(ctx, tx, e)
	if err != nil {
		return nil, err
	}
	return posted[0], nil
}

// PostAll posts entries as Post posts each, all or none (the caller rolls
// back on any error: an entry posted may be written when another answers
// CONFLICT), in fewer statements: on PostgreSQL one statement
// writes every transaction, posting and wallet change (see writeAtOnce);
// elsewhere one insert per transaction, one for all their postings and one
// update per wallet for all their changes. Entries posted together must
// agree on Forced. posted[i] is entries[i]'s.
func (l *Ledger) PostAll(ctx context.Context, tx *ent.Client, entries ...Entry) (posted []*Posted, err error) {
	posted = make([]*Posted, len(entries))
	var writes []toWrite
	for i, e := range entries {
		if err := e.validate(); err != nil {
			return nil, err
		}
		if e.Forced != entries[0].Forced {
			return nil, fmt.Errorf("ledger: %s and %s posted together disagree on Forced", entries[0].Key, e.Key)
		}
		hash := e.requestHash()
		if !l.rowLocks {
			// SQLite serialises writers: a key not posted now stays so until
			// this transaction ends. PostgreSQL learns it from the insert.
			if posted[i], err = l.priorPosting(ctx, tx, e, hash); posted[i] != nil || err != nil {
				if err != nil {
					return nil, err
				}
				continue
			}
		}
		ids, err := l.accountIDs(ctx, tx, e.Moves)
		if err != nil {
			return nil, err
		}
		writes = append(writes, l.prepare(i, e, hash, ids))
	}
	if len(writes) == 0 {
		return posted, nil
	}
	forced := entries[0].Forced
	inserted, walletsDone, err := l.write(ctx, tx, writes, forced)
	if err != nil {
		return nil, err
	}
	var (
		effs     [][]walletEffect
		moves    []Move // of the entries posted now
		accounts = map[Account]pulid.ID{}
	)
	for _, w := range writes {
		e := entries[w.at]
		if !inserted[w.txn.ID] { // the key was posted before, or by a concurrent transaction first
			if posted[w.at], err = l.priorPosting(ctx, tx, e, w.txn.RequestHash); err != nil {
				return nil, err
			}
			continue
		}
		posted[w.at] = &Posted{Transaction: w.txn}
		effs = append(effs, w.effects)
		moves = append(moves, e.Moves...)
		maps.Copy(accounts, w.accounts)
		if l.observe != nil {
			afterCommit(tx, func() { l.observe(e.Type) })
		}
	}
	if len(moves) == 0 {
		return posted, nil
	}
	if err := l.applyToWallets(ctx, tx, mergeEffects(effs)[walletsDone:], forced); err != nil {
		return nil, err
	}
	// Revenue never goes below zero; losses never above (a loss undone,
	// say a dispute fee Stripe returns, gives back at most what was lost).
	if err := l.checkPlatform(ctx, tx, moves, Revenue, accounts[Revenue], -1, "Insufficient platform revenue. Required: %s, Held: %s"); err != nil {
		return nil, err
	}
	if err := l.checkPlatform(ctx, tx, moves, Losses, accounts[Losses], 1, "Platform losses cannot come back beyond what was lost. Returned: %s, Lost: %s"); err != nil {
		return nil, err
	}
	return posted, nil
}

// mergeEffects sums each wallet's effects across transactions posted
// together, one per wallet, in the lock order, keeping the guards of each:
// a debit is refused as Post refuses it even when a credit posted with it
// covers it.
func mergeEffects(lists [][]walletEffect) []walletEffect {
	byUser := map[pulid.ID]*walletEffect{}
	for _, list := range lists {
		for _, w := range list {
			sum := byUser[w.userID]
			if sum == nil {
				sum = &walletEffect{userID: w.userID}
				byUser[w.userID] = sum
			}
			sum.add(w)
			sum.low.available = min(sum.low.available, sum.available)
			sum.low.escrow = min(sum.low.escrow, sum.escrow)
			sum.low.owed = min(sum.low.owed, sum.owed)
			sum.low.pending = min(sum.low.pending, sum.pending)
			sum.spends = sum.spends || w.available < 0
		}
	}
	return sortedEffects(byUser)
}

// checkPlatform refuses a move of a platform account a in its direction
// sign (-1: a debit of revenue, which must stay ≥ 0; +1: a credit of
// losses, which must stay ≤ 0) beyond what the account allows. The
// platform's accounts have no cached balance — revenue is credited by
// every fee, a hot row under load — so such a move (rare: fee refunds,
// reversals, losses recovered) locks the account and sums its postings,
// this transaction's included. The lock is taken after the wallets',
// always, so it cannot deadlock with them. It is FOR NO KEY UPDATE: every
// posting insert (ours and other transactions') holds KEY SHARE on the
// account through its foreign key, which FOR UPDATE would wait for — two
// debits each holding KEY SHARE and wanting FOR UPDATE deadlocked. NO KEY
// UPDATE only excludes other such moves. refusal formats the amount moved
// and what the account held before.
func (l *Ledger) checkPlatform(ctx context.Context, tx *ent.Client, moves []Move, a Account, id pulid.ID, sign int64, refusal string) error {
	var moved int64
	for _, m := range moves {
		if (sign < 0 && m.From == a) || (sign > 0 && m.To == a) {
			moved += m.Amount
		}
	}
	if moved == 0 {
		return nil
	}
	q := tx.LedgerAccount.Query().Where(ledgeraccount.ID(id))
	if l.rowLocks {
		q.Modify(func(s *entsql.Selector) { s.For(entsql.LockNoKeyUpdate) })
	}
	if _, err := q.Only(ctx); err != nil {
		return err
	}
	var sum []struct {
		Sum sql.NullInt64 `json:"sum"`
	}
	err := tx.Posting.Query().Where(posting.AccountID(id)).
		Aggregate(ent.As(ent.Sum(posting.FieldAmount), "sum")).Scan(ctx, &sum)
	if err != nil {
		return err
	}
	if len(sum) == 1 && sign*sum[0].Sum.Int64 > 0 {
		held := sign * (sum[0].Sum.Int64 - sign*moved) // what it held (or lost) before this move
		return &jobsphere.Error{
			Code:    jobsphere.InsufficientFunds,
			Message: fmt.Sprintf(refusal, l.currency.Display(moved), l.currency.Display(-held)),
		}
	}
	return nil
}

func (e Entry) validate() error {
	if e.Key == "" || len(e.Moves) == 0 {
		return fmt.Errorf("ledger: entry needs a key and at least one move")
	}
	// The row is written without ent's builder (write.go): its checks here.
	if err := ledgertransaction.TypeValidator(e.Type); err != nil {
		return fmt.Errorf("ledger: %s: %w", e.Key, err)
	}
	if e.Status != "" {
		if err := ledgertransaction.StatusValidator(e.Status); err != nil {
			return fmt.Errorf("ledger: %s: %w", e.Key, err)
		}
	}
	for _, m := range e.Moves {
		if m.Amount <= 0 || m.Amount > MaxAmount || !m.From.valid() || !m.To.valid() || m.From == m.To {
			return fmt.Errorf("ledger: invalid move %+v in %s", m, e.Key)
		}
	}
	return nil
}

// requestHash fingerprints everything the entry asks for.
func (e Entry) requestHash() string {
	raw, _ := json.Marshal(struct {
		Type, Status, Description        string
		Moves                            []Move
		Job, Offer, Contract, ReversalOf pulid.ID
		PI, CS, TR                       string
	}{string(e.Type), string(e.Status), e.Description, e.Moves, e.JobID, e.OfferID, e.ContractID, e.reversalOf,
		e.StripePaymentIntentID, e.StripeCheckoutSessionID, e.StripeTransferID})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// priorPosting returns the transaction already posted under e's key, or
// nil.
func (l *Ledger) priorPosting(ctx context.Context, tx *ent.Client, e Entry, hash string) (*Posted, error) {
	prior, err := tx.LedgerTransaction.Query().Where(ledgertransaction.IdempotencyKey(e.Key)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if prior.RequestHash != hash && !e.movesOfWallet {
		return nil, jobsphere.Errorf(jobsphere.Conflict, "This request was already made with different details")
	}
	return &Posted{Transaction: prior, Replayed: true}, nil
}

// accountIDs resolves the moves' accounts: from the cache, else in one
// query. A RECEIVABLE missing (its wallet was opened before the account
// existed) is created. What the query found is cached once tx commits: a
// row this transaction made, or found made earlier in it, is gone if it
// rolls back.
func (l *Ledger) accountIDs(ctx context.Context, tx *ent.Client, moves []Move) (map[Account]pulid.ID, error) {
	ids := make(map[Account]pulid.ID, 2*len(moves))
	want := map[string]Account{}
	for _, m := range moves {
		for _, a := range [2]Account{m.From, m.To} {
			if id, ok := l.accounts.Load(a.Code()); ok {
				ids[a] = id.(pulid.ID)
			} else {
				want[a.Code()] = a
			}
		}
	}
	if len(want) == 0 {
		return ids, nil
	}
	codes := make([]string, 0, len(want))
	for c := range want {
		codes = append(codes, c)
	}
	for created := false; ; created = true {
		rows, err := tx.LedgerAccount.Query().Where(ledgeraccount.CodeIn(codes...)).
			Select(ledgeraccount.FieldID, ledgeraccount.FieldCode).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			ids[want[r.Code]] = r.ID
		}
		if len(rows) == len(want) {
			afterCommit(tx, func() {
				for _, r := range rows {
					l.accounts.Store(r.Code, r.ID)
				}
			})
			return ids, nil
		}
		if created || !l.createReceivables(ctx, tx, want, ids) {
			return nil, fmt.Errorf("ledger: unknown account among %v", codes)
		}
	}
}

// createReceivables creates the RECEIVABLE accounts among want that are
// not in found, and reports whether every missing account was one.
func (l *Ledger) createReceivables(ctx context.Context, tx *ent.Client, want map[string]Account, found map[Account]pulid.ID) bool {
	for _, a := range want {
		if _, ok := found[a]; ok {
			continue
		}
		if a.Kind != ledgeraccount.KindRECEIVABLE {
			return false
		}
		err := tx.LedgerAccount.Create().SetCode(a.Code()).SetKind(a.Kind).SetUserID(a.UserID).SetCurrency(l.currency.Code).
			OnConflictColumns(ledgeraccount.FieldCode).DoNothing().Exec(ctx)
		if err != nil && !isNoRows(err) {
			return false
		}
	}
	return true
}

// afterCommit runs fn once the database transaction tx is a client of
// commits; for a client outside a transaction, at once.
func afterCommit(tx *ent.Client, fn func()) {
	// ent gives a client's transaction to its mutations only.
	t, err := tx.LedgerAccount.Create().Mutation().Tx()
	if err != nil {
		fn()
		return
	}
	t.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			err := next.Commit(ctx, tx)
			if err == nil {
				fn()
			}
			return err
		})
	})
}

// nilIfEmpty is nil for an empty value: an optional column left NULL.
func nilIfEmpty[T ~string](v T) *T {
	if v == "" {
		return nil
	}
	return &v
}

// parties are the users shown as "from" and "to": the owners of the
// first user account debited and credited.
func parties(moves []Move) (from, to pulid.ID) {
	for _, m := range moves {
		if from == "" && m.From.isUser() {
			from = m.From.UserID
		}
		if to == "" && m.To.isUser() {
			to = m.To.UserID
		}
	}
	return from, to
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// walletEffect is what one transaction does to one wallet's cached columns.
type walletEffect struct {
	userID                       pulid.ID
	available, escrow, owed      int64 // owed: minus the RECEIVABLE's change
	earnings, spent, withdrawals int64
	pending                      int64 // pendingDeposits' change (Entry.Unpends)
	// What the wallet must hold for the entries to be posted in order, as
	// Post would check each (see mergeEffects): the lowest each change
	// reaches, entry by entry, and whether any entry spends available
	// money (a frozen wallet's refusal).
	low    struct{ available, escrow, owed, pending int64 }
	spends bool
}

// add sums o into w (of the same wallet).
func (w *walletEffect) add(o walletEffect) {
	w.available += o.available
	w.escrow += o.escrow
	w.owed += o.owed
	w.earnings += o.earnings
	w.spent += o.spent
	w.withdrawals += o.withdrawals
	w.pending += o.pending
}

// unpend adds e's Unpends to the effect on its credited user's wallet,
// which a credit always touches; were it not, that wallet joins the
// others in the lock order.
func unpend(effs []walletEffect, e Entry) []walletEffect {
	_, to := parties(e.Moves)
	byUser := make(map[pulid.ID]*walletEffect, len(effs)+1)
	for i := range effs {
		byUser[effs[i].userID] = &effs[i]
	}
	if byUser[to] == nil {
		byUser[to] = &walletEffect{userID: to}
	}
	byUser[to].pending -= e.Unpends
	return sortedEffects(byUser)
}

// effects computes, per user, the change to each cached column. The
// lifetime totals follow from who paid whom: money to another user is spent
// by the payer and earned by the payee; money to the platform is spent and
// a fee coming back is unspent; a WITHDRAWAL to the outside world is
// withdrawn, and one coming back from it (a reversed payout) unwithdrawn;
// other money to the outside (a refund to a card) changes no total.
// A reversing transaction undoes its original's totals.
func effects(typ ledgertransaction.Type, reversal bool, moves []Move) []walletEffect {
	byUser := map[pulid.ID]*walletEffect{}
	get := func(u pulid.ID) *walletEffect {
		if byUser[u] == nil {
			byUser[u] = &walletEffect{userID: u}
		}
		return byUser[u]
	}
	for _, m := range moves {
		for _, side := range []struct {
			a    Account
			sign int64
		}{{m.From, -1}, {m.To, 1}} {
			if !side.a.isUser() {
				continue
			}
			w := get(side.a.UserID)
			switch side.a.Kind {
			case ledgeraccount.KindAVAILABLE:
				w.available += side.sign * m.Amount
			case ledgeraccount.KindRECEIVABLE:
				w.owed -= side.sign * m.Amount
			default:
				w.escrow += side.sign * m.Amount
			}
		}
		orig, sign := m, int64(1)
		if reversal { // classify the move being undone, then negate
			orig, sign = Move{From: m.To, To: m.From, Amount: m.Amount}, -1
		}
		classifyTotals(typ, orig, sign, get)
	}
	return sortedEffects(byUser)
}

// sortedEffects lists the effects in user id order. One lock order for
// everyone: wallets are updated in that order, so two transactions
// touching the same wallets cannot deadlock.
func sortedEffects(byUser map[pulid.ID]*walletEffect) []walletEffect {
	out := make([]walletEffect, 0, len(byUser))
	for _, w := range byUser {
		out = append(out, *w)
	}
	slices.SortFunc(out, func(a, b walletEffect) int { return compare(a.userID, b.userID) })
	return out
}

func classifyTotals(typ ledgertransaction.Type, m Move, sign int64, get func(pulid.ID) *walletEffect) {
	amt := sign * m.Amount
	switch {
	case m.From.isUser() && m.To.isUser():
		if m.From.UserID != m.To.UserID {
			get(m.From.UserID).spent += amt
			get(m.To.UserID).earnings += amt
		}
	case m.From.isUser() && m.To.Kind == ledgeraccount.KindREVENUE:
		get(m.From.UserID).spent += amt
	case m.From.Kind == ledgeraccount.KindREVENUE && m.To.isUser():
		get(m.To.UserID).spent -= amt
	case m.From.isUser() && m.To.Kind == ledgeraccount.KindEXTERNAL && typ == ledgertransaction.TypeWITHDRAWAL:
		get(m.From.UserID).withdrawals += amt
	case m.From.Kind == ledgeraccount.KindEXTERNAL && m.To.isUser() && typ == ledgertransaction.TypeWITHDRAWAL:
		get(m.To.UserID).withdrawals -= amt
	}
}

func compare(a, b pulid.ID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// applyToWallets updates each wallet (in user id order, the lock order)
// with one conditional update: … WHERE balance >= debit AND NOT frozen, so
// the database itself checks each debit against the committed row, and the
// row lock the update takes holds to the end of tx. Only an update that
// matched nothing reads the wallet, under its lock, to say why — or, when
// the reason went away meanwhile, to try once more, now locked.
//
// A change of what is owed freezes the wallet (CHARGEBACK) or lifts that
// freeze, which depends on the wallet's other holds: that rare change
// reads the wallet under its lock first. forced: see Entry.Forced.
func (l *Ledger) applyToWallets(ctx context.Context, tx *ent.Client, effs []walletEffect, forced bool) error {
	for _, w := range effs {
		var cur *ent.Wallet
		if w.owed != 0 {
			var err error
			if cur, err = l.lockAndCheck(ctx, tx, w, forced); err != nil {
				return err
			}
		}
		for attempt := 0; ; attempt++ {
			u, err := walletUpdate(tx, w, cur, forced)
			if err != nil {
				return err
			}
			n, err := u.Save(ctx)
			if err != nil {
				return err
			}
			if n == 1 {
				break
			}
			if cur != nil {
				return fmt.Errorf("ledger: wallet of %s changed under its lock", w.userID)
			}
			if cur, err = l.lockAndCheck(ctx, tx, w, forced); err != nil {
				return err
			}
		}
	}
	return nil
}

// lockAndCheck reads w's wallet under its lock and refuses w if the
// wallet cannot take it.
func (l *Ledger) lockAndCheck(ctx context.Context, tx *ent.Client, w walletEffect, forced bool) (*ent.Wallet, error) {
	cur, err := l.LockWallet(ctx, tx, w.userID)
	if err != nil {
		return nil, err
	}
	return cur, l.refusal(cur, w, forced)
}

// walletUpdate is w as one conditional update of its wallet's cached
// columns; cur, the wallet as read under its lock, is needed only for a
// change of what is owed (nil otherwise).
func walletUpdate(tx *ent.Client, w walletEffect, cur *ent.Wallet, forced bool) (*ent.WalletUpdate, error) {
	u := tx.Wallet.Update().Where(w.guards(forced)...)
	for _, c := range w.changes() {
		if err := u.Mutation().AddField(c.column, c.by); err != nil {
			return nil, err
		}
	}
	if w.owed != 0 {
		u.AddAmountOwed(w.owed).Where(wallet.AmountOwedEQ(cur.AmountOwed))
		h := holdsOf(cur)
		h.owed += w.owed
		setFreeze(u, h.reason())
	}
	return u, nil
}

// columnChange adds by to a wallet's cached column.
type columnChange struct {
	column string
	by     int64
}

// changes are w's changes of its wallet's columns, but for what is owed
// (which also moves the freeze: walletUpdate).
func (w walletEffect) changes() []columnChange {
	var out []columnChange
	for _, c := range []columnChange{
		{wallet.FieldBalance, w.available}, {wallet.FieldEscrowBalance, w.escrow},
		{wallet.FieldTotalEarnings, w.earnings}, {wallet.FieldTotalSpent, w.spent},
		{wallet.FieldTotalWithdrawals, w.withdrawals}, {wallet.FieldPendingDeposits, w.pending},
	} {
		if c.by != 0 {
			out = append(out, c)
		}
	}
	return out
}

// guards select w's wallet if it can take w: a debit no larger than what
// the wallet holds, a spend only if the wallet is not frozen (unless
// forced). The database checks them against the committed row.
func (w walletEffect) guards(forced bool) []predicate.Wallet {
	ps := []predicate.Wallet{wallet.UserID(w.userID)}
	if w.low.available < 0 {
		ps = append(ps, wallet.BalanceGTE(-w.low.available))
	}
	if w.spends && !forced {
		ps = append(ps, wallet.IsFrozen(false))
	}
	if w.low.escrow < 0 {
		ps = append(ps, wallet.EscrowBalanceGTE(-w.low.escrow))
	}
	if w.low.pending < 0 {
		ps = append(ps, wallet.PendingDepositsGTE(-w.low.pending))
	}
	return ps
}

// LockWallet reads a user's wallet with its row lock (on PostgreSQL; SQLite
// serialises writers), for the rest of tx.
func (l *Ledger) LockWallet(ctx context.Context, tx *ent.Client, userID pulid.ID) (*ent.Wallet, error) {
	q := tx.Wallet.Query().Where(wallet.UserID(userID))
	if l.rowLocks {
		q.ForUpdate()
	}
	cur, err := q.Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger: wallet of %s: %w", userID, err)
	}
	return cur, nil
}

// refusal says why a wallet, as read under its lock, cannot take the
// effect, or nil when it can.
func (l *Ledger) refusal(cur *ent.Wallet, w walletEffect, forced bool) error {
	switch {
	case w.spends && cur.IsFrozen && !forced:
		return ErrWalletFrozen()
	case w.low.available < 0 && cur.Balance < -w.low.available:
		return InsufficientFunds(l.currency, -w.low.available, cur.Balance)
	case w.low.escrow < 0 && cur.EscrowBalance < -w.low.escrow:
		// The held money has already moved on (say, a reversal of a hold
		// whose money was paid out). Refused like any overdraft.
		return &jobsphere.Error{
			Code: jobsphere.InsufficientFunds,
			Message: fmt.Sprintf("Insufficient escrow balance. Required: %s, Held: %s",
				l.currency.Display(-w.low.escrow), l.currency.Display(cur.EscrowBalance)),
		}
	case w.low.pending < 0 && cur.PendingDeposits < -w.low.pending:
		return fmt.Errorf("ledger: pending deposits of %s cannot drop by %d", w.userID, -w.low.pending)
	case w.low.owed < 0 && cur.AmountOwed < -w.low.owed:
		// A receivable never goes above zero: more than is owed paid
		// back (or the reversal of a debt that is paid already).
		return &jobsphere.Error{
			Code: jobsphere.InsufficientFunds,
			Message: fmt.Sprintf("Pays back more than is owed. Paid: %s, Owed: %s",
				l.currency.Display(-w.low.owed), l.currency.Display(cur.AmountOwed)),
		}
	}
	return nil
}

// ErrWalletFrozen is the error for a frozen wallet's spend or withdrawal.
func ErrWalletFrozen() error {
	return jobsphere.Errorf(jobsphere.WalletFrozen, "Wallet is frozen. Please contact support")
}

// InsufficientFunds is the seeds' error for a spend the balance cannot cover.
func InsufficientFunds(cur jobsphere.Currency, required, available int64) error {
	return &jobsphere.Error{
		Code:    jobsphere.InsufficientFunds,
		Message: fmt.Sprintf("Insufficient balance. Required: %s, Available: %s", cur.Display(required), cur.Display(available)),
		Fields: []jobsphere.FieldError{{
			Field:   "amount",
			Message: fmt.Sprintf("Required: %s, Available: %s", cur.Display(required), cur.Display(available)),
		}},
	}
}

// CreditFromOutside posts amount coming in to a user from the outside world
// (a deposit): what they owe is paid back first (EXTERNAL → RECEIVABLE),
// the rest becomes available (EXTERNAL → AVAILABLE); e's Moves are set
// here, from the wallet as it is under its lock. A key posted before
// replays its first result, whatever is owed now.
func (l *Ledger) CreditFromOutside(ctx context.Context, tx *ent.Client, userID pulid.ID, amount int64, e Entry) (*Posted, error) {
	return l.postSplit(ctx, tx, userID, e, func(w *ent.Wallet) []Move {
		return split(amount, w.AmountOwed,
			Move{From: External, To: Receivable(userID)}, Move{From: External, To: Available(userID)})
	})
}

// TakeBack posts amount the outside world takes back from a user (a refund
// made in Stripe's Dashboard, a chargeback): their available money first
// (AVAILABLE → EXTERNAL), what it cannot cover becomes owed (RECEIVABLE →
// EXTERNAL), which freezes the wallet (CHARGEBACK). A freeze does not stop
// it (Entry.Forced). e's Moves are set here, from the wallet as it is
// under its lock; a key posted before replays its first result.
func (l *Ledger) TakeBack(ctx context.Context, tx *ent.Client, userID pulid.ID, amount int64, e Entry) (*Posted, error) {
	e.Forced = true
	return l.postSplit(ctx, tx, userID, e, func(w *ent.Wallet) []Move {
		return split(amount, w.Balance,
			Move{From: Available(userID), To: External}, Move{From: Receivable(userID), To: External})
	})
}

// postSplit posts e with the moves moves makes of the user's wallet, read
// under its lock; under a key posted before, the first result, whatever
// the wallet holds now (Post learns of the replay as it does of any).
// With no moves to make it posts nothing and returns the first result,
// or nil.
func (l *Ledger) postSplit(ctx context.Context, tx *ent.Client, userID pulid.ID, e Entry, moves func(*ent.Wallet) []Move) (*Posted, error) {
	w, err := l.LockWallet(ctx, tx, userID)
	if err != nil {
		return nil, err
	}
	e.Moves, e.movesOfWallet = moves(w), true
	if len(e.Moves) == 0 { // nothing to move now, perhaps since a first post moved it
		return l.priorPosting(ctx, tx, e, "")
	}
	return l.Post(ctx, tx, e)
}

// split is amount as up to two moves: first takes min(amount, limit), rest
// the remainder; a move of nothing is left out.
func split(amount, limit int64, first, rest Move) []Move {
	first.Amount = min(amount, max(limit, 0))
	rest.Amount = amount - first.Amount
	var out []Move
	for _, m := range []Move{first, rest} {
		if m.Amount > 0 {
			out = append(out, m)
		}
	}
	return out
}
