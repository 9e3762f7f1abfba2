package payments

import (
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/predicate"
	"github.com/jobsphere/jobsphere/ent/wallet"
	"github.com/jobsphere/jobsphere/ent/withdrawal"
)

// Who may see money: a wallet, the transactions that moved it, and the
// deposits and withdrawals behind them are for their user and admins.
// The getters, the lists and node(id) use these.

// WalletsVisibleTo keeps the viewer's own wallet (every wallet for admins).
func WalletsVisibleTo(v auth.Viewer) predicate.Wallet {
	return auth.Scope(v, wallet.UserID(v.UserID))
}

// TransactionsVisibleTo keeps the transactions that moved the viewer's
// money, from or to them.
func TransactionsVisibleTo(v auth.Viewer) predicate.LedgerTransaction {
	return auth.Scope(v, ledgertransaction.Or(ledgertransaction.FromUserID(v.UserID), ledgertransaction.ToUserID(v.UserID)))
}

// DepositsVisibleTo keeps the viewer's own deposits.
func DepositsVisibleTo(v auth.Viewer) predicate.Deposit {
	return auth.Scope(v, deposit.UserID(v.UserID))
}

// WithdrawalsVisibleTo keeps the viewer's own withdrawals.
func WithdrawalsVisibleTo(v auth.Viewer) predicate.Withdrawal {
	return auth.Scope(v, withdrawal.UserID(v.UserID))
}

// MaySeeCases says whether the viewer may see the chargebacks and early
// fraud warnings: admins' records of what the card's bank said, not the
// customer's.
func MaySeeCases(v auth.Viewer) bool { return v.IsAdmin() }
