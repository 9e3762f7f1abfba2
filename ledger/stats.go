package ledger

import (
	"context"
	"database/sql"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/chargeback"
	"github.com/jobsphere/jobsphere/ent/dispute"
	"github.com/jobsphere/jobsphere/ent/ledgeraccount"
	"github.com/jobsphere/jobsphere/ent/posting"
	"github.com/jobsphere/jobsphere/ent/wallet"
	"github.com/jobsphere/jobsphere/ent/withdrawal"
)

// Stats is the platform's money at a glance, for admins.
type Stats struct {
	Revenue            int64 // fees collected, net of fee refunds
	EscrowHeld         int64 // held for offers, contracts and withdrawals in flight
	WalletBalances     int64 // users' spendable money
	PendingWithdrawals int64 // requested, not yet paid out
	Receivables        int64 // owed by users: money taken back at Stripe their balance could not cover
	Losses             int64 // what the platform lost (dispute fees, debts written off), as a positive amount
	LedgerBalanced     bool  // Verify found nothing wrong
	OpenDisputes       int   // disputes between parties not yet settled or withdrawn: escrow held for them
	OpenChargebacks    int   // card disputes Stripe has not decided yet
}

type sums []struct {
	A sql.NullInt64 `json:"a"`
	B sql.NullInt64 `json:"b"`
}

// Stats adds up the platform's money and verifies the ledger.
func (l *Ledger) Stats(ctx context.Context) (*Stats, error) {
	var revenue, losses, wallets, owed, pending sums
	for _, k := range []struct {
		kind ledgeraccount.Kind
		into *sums
	}{{ledgeraccount.KindREVENUE, &revenue}, {ledgeraccount.KindLOSSES, &losses}} {
		err := l.client.Posting.Query().
			Where(posting.HasAccountWith(ledgeraccount.KindEQ(k.kind))).
			Aggregate(ent.As(ent.Sum(posting.FieldAmount), "a")).Scan(ctx, k.into)
		if err != nil {
			return nil, err
		}
	}
	err := l.client.Wallet.Query().
		Aggregate(ent.As(ent.Sum(wallet.FieldBalance), "a"), ent.As(ent.Sum(wallet.FieldEscrowBalance), "b")).
		Scan(ctx, &wallets)
	if err != nil {
		return nil, err
	}
	err = l.client.Wallet.Query().Aggregate(ent.As(ent.Sum(wallet.FieldAmountOwed), "a")).Scan(ctx, &owed)
	if err != nil {
		return nil, err
	}
	err = l.client.Withdrawal.Query().Where(withdrawal.StatusEQ(withdrawal.StatusPENDING)).
		Aggregate(ent.As(ent.Sum(withdrawal.FieldAmount), "a")).Scan(ctx, &pending)
	if err != nil {
		return nil, err
	}
	openDisputes, err := l.client.Dispute.Query().Where(dispute.StatusEQ(dispute.StatusOPEN)).Count(ctx)
	if err != nil {
		return nil, err
	}
	openChargebacks, err := l.client.Chargeback.Query().Where(chargeback.StatusEQ(chargeback.StatusOPEN)).Count(ctx)
	if err != nil {
		return nil, err
	}
	report, err := l.Verify(ctx)
	if err != nil {
		return nil, err
	}
	return &Stats{
		Revenue:            revenue.a(),
		WalletBalances:     wallets.a(),
		EscrowHeld:         wallets.b(),
		PendingWithdrawals: pending.a(),
		Receivables:        owed.a(),
		Losses:             -losses.a(),
		LedgerBalanced:     report.OK(),
		OpenDisputes:       openDisputes,
		OpenChargebacks:    openChargebacks,
	}, nil
}

func (s sums) a() int64 {
	if len(s) == 0 {
		return 0
	}
	return s[0].A.Int64
}

func (s sums) b() int64 {
	if len(s) == 0 {
		return 0
	}
	return s[0].B.Int64
}
