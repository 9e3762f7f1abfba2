// Package ledgertest writes long ledger histories fast, for the tests and
// the load generator that need many postings (a statement's CSV export of
// 100,000 transactions): rows inserted in bulk in one database
// transaction, with the wallet's cached balances moved to match, so the
// ledger still verifies. It bypasses Ledger.Post's per-entry checks and
// is never used by the server.
package ledgertest

import (
	"context"
	"fmt"
	"time"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgeraccount"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/wallet"
	"github.com/jobsphere/jobsphere/ledger"
)

// History is what WriteHistory wrote.
type History struct {
	Transactions int
	Lines        int   // postings on the user's accounts: the lines of their statement
	Available    int64 // added to the user's available money
	Escrow       int64 // added to their escrow
}

// batch is how many transactions go in one INSERT: within both
// databases' limits on a statement's parameters.
const batch = 2000

// WriteHistory writes n transactions for the user, dated start, start +
// step, …: even ones a DEPOSIT from the outside world to their available
// money, odd ones an ESCROW_HOLD of half the deposit before. Descriptions
// hold commas, quotes and (every 1,000th) a line break, which a CSV must
// quote. The user's wallet and accounts must exist.
func WriteHistory(ctx context.Context, client *ent.Client, userID pulid.ID, n int, start time.Time, step time.Duration) (*History, error) {
	h := &History{Transactions: n}
	err := client.WithTx(ctx, func(tx *ent.Tx) error {
		w, err := tx.Wallet.Query().Where(wallet.UserID(userID)).Only(ctx)
		if err != nil {
			return fmt.Errorf("read the wallet of %s: %w", userID, err)
		}
		accounts, err := accountIDs(ctx, tx.Client(), ledger.External, ledger.Available(userID), ledger.Escrow(userID))
		if err != nil {
			return err
		}
		external, available, escrow := accounts[0], accounts[1], accounts[2]
		var deposit int64
		for first := 0; first < n; first += batch {
			txns := make([]*ent.LedgerTransactionCreate, 0, batch)
			postings := make([]*ent.PostingCreate, 0, 2*batch)
			for i := first; i < min(first+batch, n); i++ {
				at := start.Add(time.Duration(i) * step)
				id := pulid.New("txn")
				c := tx.LedgerTransaction.Create().SetID(id).SetCreatedAt(at).SetCompletedAt(at).
					SetIdempotencyKey(fmt.Sprintf("history:%s:%09d", userID, i)).SetRequestHash("history").
					SetCurrency(w.Currency).SetToUserID(userID)
				from, to, moved := external, available, deposit/2
				if i%2 == 0 {
					deposit = 1000 + int64(i*7919)%100_000
					moved = deposit
					c.SetType(ledgertransaction.TypeDEPOSIT).SetDescription(fmt.Sprintf("History deposit %d, \"bulk\"", i))
					h.Available += moved
					h.Lines++
				} else {
					from, to = available, escrow
					c.SetType(ledgertransaction.TypeESCROW_HOLD).SetFromUserID(userID).
						SetDescription(fmt.Sprintf("History hold %d of half, \"%d\"", i, moved))
					h.Available -= moved
					h.Escrow += moved
					h.Lines += 2
				}
				if i%1000 == 999 {
					c.SetDescription("History line one\nline two")
				}
				c.SetAmount(moved)
				txns = append(txns, c)
				postings = append(postings,
					tx.Posting.Create().SetTransactionID(id).SetAccountID(from).SetAmount(-moved).SetMove(0).SetCreatedAt(at),
					tx.Posting.Create().SetTransactionID(id).SetAccountID(to).SetAmount(moved).SetMove(0).SetCreatedAt(at))
			}
			if err := tx.LedgerTransaction.CreateBulk(txns...).Exec(ctx); err != nil {
				return fmt.Errorf("write transactions from %d: %w", first, err)
			}
			if err := tx.Posting.CreateBulk(postings...).Exec(ctx); err != nil {
				return fmt.Errorf("write postings from %d: %w", first, err)
			}
		}
		return tx.Wallet.UpdateOneID(w.ID).AddBalance(h.Available).AddEscrowBalance(h.Escrow).Exec(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("write a history of %d transactions: %w", n, err)
	}
	return h, nil
}

// accountIDs are the ids of the accounts, in order.
func accountIDs(ctx context.Context, c *ent.Client, accounts ...ledger.Account) ([]pulid.ID, error) {
	codes := make([]string, len(accounts))
	for i, a := range accounts {
		codes[i] = a.Code()
	}
	rows, err := c.LedgerAccount.Query().Where(ledgeraccount.CodeIn(codes...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read accounts %v: %w", codes, err)
	}
	byCode := map[string]pulid.ID{}
	for _, r := range rows {
		byCode[r.Code] = r.ID
	}
	ids := make([]pulid.ID, len(codes))
	for i, code := range codes {
		if ids[i] = byCode[code]; ids[i] == "" {
			return nil, fmt.Errorf("no account %s", code)
		}
	}
	return ids, nil
}
