// Package ledger is the only code that changes a balance: double-entry
// postings with the wallet rows as their cache.
package ledger

import (
	"context"
	"strings"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/ledgeraccount"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// OpenWallet creates a user's empty wallet and their available and escrow
// accounts. Call it inside the transaction that creates the user.
func OpenWallet(ctx context.Context, tx *ent.Client, userID pulid.ID, cur jobsphere.Currency) (*ent.Wallet, error) {
	w, err := tx.Wallet.Create().SetUserID(userID).SetCurrency(cur.Code).Save(ctx)
	if err != nil {
		return nil, err
	}
	err = tx.LedgerAccount.CreateBulk(
		tx.LedgerAccount.Create().SetCode(AccountCode(userID, ledgeraccount.KindAVAILABLE)).
			SetKind(ledgeraccount.KindAVAILABLE).SetUserID(userID).SetCurrency(cur.Code),
		tx.LedgerAccount.Create().SetCode(AccountCode(userID, ledgeraccount.KindESCROW)).
			SetKind(ledgeraccount.KindESCROW).SetUserID(userID).SetCurrency(cur.Code),
	).Exec(ctx)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// AccountCode names a user's account of the given kind: "usr_…:available".
func AccountCode(userID pulid.ID, kind ledgeraccount.Kind) string {
	return string(userID) + ":" + strings.ToLower(string(kind))
}
