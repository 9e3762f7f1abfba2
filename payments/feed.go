package payments

import (
	"context"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/realtime"
)

// WalletEvent is one change to a user's wallet, with the objects it is
// about, read after the change committed.
type WalletEvent struct {
	Kind        string
	Wallet      *ent.Wallet
	Transaction *ent.LedgerTransaction
	Deposit     *ent.Deposit
}

// walletEventKinds are the kinds a WalletEvent can have.
var walletEventKinds = map[string]bool{
	"DEPOSIT_SUCCEEDED": true, "DEPOSIT_FAILED": true, "HOLD_PLACED": true, "HOLD_RELEASED": true,
	"FEE_CHARGED": true, "PAYOUT_RECEIVED": true, "REFUNDED": true, "WITHDRAWAL_UPDATED": true,
	"FROZEN": true, "UNFROZEN": true, "CHARGEBACK": true, realtime.KindResync: true,
}

// WalletFeed delivers the user's wallet events until ctx ends. Only the
// user's own topic is subscribed, so nobody else's events can arrive.
func (s *Service) WalletFeed(ctx context.Context, userID pulid.ID) (<-chan *WalletEvent, error) {
	return realtime.Feed(ctx, s.broker, UserTopic(userID), func(ev realtime.Event) (*WalletEvent, bool) {
		if !walletEventKinds[ev.Kind] {
			return nil, false // the topic also carries offer and job news
		}
		w, err := s.ledger.Wallet(ctx, userID)
		if err != nil {
			return nil, false
		}
		out := &WalletEvent{Kind: ev.Kind, Wallet: w}
		if id := ev.IDs["transaction"]; id != "" {
			out.Transaction, _ = s.client.LedgerTransaction.Get(ctx, pulid.ID(id))
		}
		if id := ev.IDs["deposit"]; id != "" {
			out.Deposit, _ = s.client.Deposit.Get(ctx, pulid.ID(id))
		}
		return out, true
	})
}

// DepositFeed delivers the user's deposits as they succeed or fail; only
// one deposit's when depositID is set.
func (s *Service) DepositFeed(ctx context.Context, userID pulid.ID, depositID *pulid.ID) (<-chan *ent.Deposit, error) {
	return realtime.Feed(ctx, s.broker, UserTopic(userID), func(ev realtime.Event) (*ent.Deposit, bool) {
		id, ok := ev.About("deposit", string(deref(depositID)), "DEPOSIT_SUCCEEDED", "DEPOSIT_FAILED")
		if !ok {
			return nil, false
		}
		d, err := s.client.Deposit.Query().Where(deposit.ID(pulid.ID(id)), deposit.UserID(userID)).Only(ctx)
		// After a RESYNC, only a deposit that has completed: one still
		// pending has missed nothing this feed tells.
		return d, err == nil && (ev.Kind != realtime.KindResync || !isPending(d.Status))
	})
}
