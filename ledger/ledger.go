// Package ledger is the only code that changes a balance. Every money
// movement is one ledger transaction of postings that sum to zero, written
// in the caller's database transaction with a unique idempotency key. The
// wallet rows cache each user's balances and are updated in the same
// transaction, by conditional updates that cannot overdraw.
//
// Invariants (checked by Verify, asserted by the tests after every money
// scenario):
//   - every transaction's postings sum to zero, and all postings together;
//   - no account but the outside world (EXTERNAL) and a user's RECEIVABLE
//     is ever negative; RECEIVABLE and the platform's LOSSES are never
//     positive (their negative is what is owed, and what was lost);
//   - each wallet's cached balance, escrow balance and amount owed equal
//     the sums of the postings on the user's AVAILABLE and ESCROW accounts
//     and minus its RECEIVABLE, and its lifetime totals equal what its
//     transactions imply;
//   - a wallet that owes or has a chargeback case open is frozen
//     (CHARGEBACK), and its freeze columns agree with the reasons that
//     hold (its cases as their tables say);
//   - each wallet's pending deposits equal its unconfirmed deposits;
//   - every job's status agrees with its contract's and escrow's (no
//     cancelled job with a held escrow, no completed job whose escrow was
//     not released) and no offer is pending on a job that is not open.
package ledger

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgeraccount"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// Ledger posts money movements in one currency.
type Ledger struct {
	client   *ent.Client
	currency jobsphere.Currency
	// rowLocks: the database takes row locks (SELECT … FOR UPDATE), as
	// PostgreSQL does; SQLite serialises writers instead.
	rowLocks bool
	observe  func(ledgertransaction.Type) // see WithObserver; nil: none
	// accounts caches account ids by code: an account never changes or
	// goes once made, so only the first post to it looks it up.
	accounts sync.Map
}

// Option configures a Ledger.
type Option func(*Ledger)

// WithObserver has observe called with the type of every transaction the
// ledger writes, once the database transaction holding it commits: a post
// rolled back with the rest of its transaction, or replayed, is not
// observed (the metric jobsphere_ledger_transactions_total counts this).
func WithObserver(observe func(ledgertransaction.Type)) Option {
	return func(l *Ledger) { l.observe = observe }
}

// New returns the ledger. The client is used for reads outside any
// transaction (history, verification, statistics); postings always go
// through the caller's transaction. rowLocks is true on PostgreSQL.
func New(client *ent.Client, currency jobsphere.Currency, rowLocks bool, opts ...Option) *Ledger {
	l := &Ledger{client: client, currency: currency, rowLocks: rowLocks}
	for _, opt := range opts {
		opt(l)
	}
	return l
}

// Currency is the ledger's currency.
func (l *Ledger) Currency() jobsphere.Currency { return l.currency }

// Account names a ledger account: a user's AVAILABLE or ESCROW money or
// RECEIVABLE (what they owe), the platform's REVENUE or LOSSES, or
// EXTERNAL, the world outside (Stripe).
type Account struct {
	Kind   ledgeraccount.Kind
	UserID pulid.ID // empty for REVENUE, LOSSES and EXTERNAL
}

// The platform's accounts.
var (
	Revenue  = Account{Kind: ledgeraccount.KindREVENUE}
	Losses   = Account{Kind: ledgeraccount.KindLOSSES} // only ever down: dispute fees, debts written off
	External = Account{Kind: ledgeraccount.KindEXTERNAL}
)

// Available is a user's spendable money.
func Available(userID pulid.ID) Account {
	return Account{Kind: ledgeraccount.KindAVAILABLE, UserID: userID}
}

// Escrow is a user's held money: pending offers, funded contracts,
// withdrawals in flight.
func Escrow(userID pulid.ID) Account {
	return Account{Kind: ledgeraccount.KindESCROW, UserID: userID}
}

// Receivable is what a user owes the platform, as a negative balance: the
// only user account that goes below zero, and never above it. Money the
// outside world takes back that the user's available money cannot cover
// is debited here; their next deposits pay it back first.
func Receivable(userID pulid.ID) Account {
	return Account{Kind: ledgeraccount.KindRECEIVABLE, UserID: userID}
}

// Code is the account's stable name: "usr_…:available", "platform:revenue".
func (a Account) Code() string {
	owner := "platform"
	if a.UserID != "" {
		owner = string(a.UserID)
	}
	return owner + ":" + strings.ToLower(string(a.Kind))
}

func (a Account) isUser() bool { return a.UserID != "" }

func (a Account) valid() bool {
	switch a.Kind {
	case ledgeraccount.KindAVAILABLE, ledgeraccount.KindESCROW, ledgeraccount.KindRECEIVABLE:
		return a.UserID != ""
	case ledgeraccount.KindREVENUE, ledgeraccount.KindLOSSES, ledgeraccount.KindEXTERNAL:
		return a.UserID == ""
	}
	return false
}

// OpenWallet creates a user's empty wallet and their AVAILABLE, ESCROW and
// RECEIVABLE accounts. Call it inside the transaction that creates the
// user. The accounts' ids are cached once it commits, so that the user's
// first post (a deposit's credit, say) needs no look-up of them on this
// replica. (A wallet opened before RECEIVABLE existed gets it on first
// use: see Post.)
func (l *Ledger) OpenWallet(ctx context.Context, tx *ent.Client, userID pulid.ID) (*ent.Wallet, error) {
	w, err := tx.Wallet.Create().SetUserID(userID).SetCurrency(strings.ToUpper(l.currency.Code)).Save(ctx)
	if err != nil {
		return nil, err
	}
	accounts := []Account{Available(userID), Escrow(userID), Receivable(userID)}
	ids := make([]pulid.ID, len(accounts))
	creates := make([]*ent.LedgerAccountCreate, len(accounts))
	for i, a := range accounts {
		ids[i] = pulid.New("acc")
		creates[i] = tx.LedgerAccount.Create().SetID(ids[i]).
			SetCode(a.Code()).SetKind(a.Kind).SetUserID(userID).SetCurrency(l.currency.Code)
	}
	if err := tx.LedgerAccount.CreateBulk(creates...).Exec(ctx); err != nil {
		return nil, err
	}
	afterCommit(tx, func() {
		for i, a := range accounts {
			l.accounts.Store(a.Code(), ids[i])
		}
	})
	return w, nil
}

// EnsurePlatformAccounts creates the REVENUE, LOSSES and EXTERNAL accounts
// once, and caches their ids; safe to call from every replica at every
// start.
func (l *Ledger) EnsurePlatformAccounts(ctx context.Context) error {
	var codes []string
	for _, a := range []Account{Revenue, Losses, External} {
		err := l.client.LedgerAccount.Create().
			SetCode(a.Code()).SetKind(a.Kind).SetCurrency(l.currency.Code).
			OnConflictColumns(ledgeraccount.FieldCode).DoNothing().
			Exec(ctx)
		if err != nil && !isNoRows(err) {
			return fmt.Errorf("ledger: platform account %s: %w", a.Code(), err)
		}
		codes = append(codes, a.Code())
	}
	made, err := l.client.LedgerAccount.Query().Where(ledgeraccount.CodeIn(codes...)).
		Select(ledgeraccount.FieldID, ledgeraccount.FieldCode).All(ctx)
	if err != nil {
		return fmt.Errorf("ledger: read the platform accounts: %w", err)
	}
	for _, a := range made {
		l.accounts.Store(a.Code, a.ID)
	}
	return nil
}
