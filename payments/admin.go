package payments

import (
	"context"
	"fmt"

	"entgo.io/contrib/entgql"

	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/fraudwarning"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/wallet"
	"github.com/jobsphere/jobsphere/ent/withdrawal"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/market"
	"github.com/jobsphere/jobsphere/realtime"
)

// The admins' work queues (GraphQL's AdminQueue).
const (
	QueueReleases      = "RELEASES"
	QueueWithdrawals   = "WITHDRAWALS"
	QueueDisputes      = "DISPUTES"
	QueueChargebacks   = "CHARGEBACKS" // card chargebacks and early fraud warnings
	QueueFrozenWallets = "FROZEN_WALLETS"
	QueueAll           = "ALL" // events may have been missed: every queue, no item
)

// The kinds payments publishes on the admins' topic, as on the user's.
const (
	kindWithdrawalUpdated = "WITHDRAWAL_UPDATED"
	kindFrozen            = "FROZEN"
	kindUnfrozen          = "UNFROZEN"
	kindChargeback        = "CHARGEBACK"
	kindFraudWarning      = "FRAUD_WARNING"
)

// AdminQueueEvent says an item of one of the admins' queues changed.
type AdminQueueEvent struct {
	Queue  string
	ItemID pulid.ID
}

// AdminQueueFeed tells admins which queue changed, read from the events
// on the admins' topic: a release requested, a job of a contract moved
// (its escrow released, refunded or settled), a dispute changed, a
// withdrawal requested or decided, a chargeback booked or closed, an early
// fraud warning received, a wallet frozen or unfrozen; and every queue
// (ALL) when events may have been missed.
func (s *Service) AdminQueueFeed(ctx context.Context, v auth.Viewer) (<-chan *AdminQueueEvent, error) {
	if !v.IsAdmin() {
		return nil, auth.NotAuthorized()
	}
	return realtime.Feed(ctx, s.broker, market.AdminTopic, func(ev realtime.Event) (*AdminQueueEvent, bool) {
		e, err := s.adminQueueEvent(ctx, ev)
		return e, err == nil && e != nil
	})
}

// adminQueueEvent is the queue an event on the admins' topic changed,
// or nil when it changed none (an offer, a job without a contract).
func (s *Service) adminQueueEvent(ctx context.Context, ev realtime.Event) (*AdminQueueEvent, error) {
	switch ev.Kind {
	case realtime.KindResync:
		return &AdminQueueEvent{Queue: QueueAll}, nil
	case market.KindReleaseRequested:
		return &AdminQueueEvent{Queue: QueueReleases, ItemID: pulid.ID(ev.IDs["contract"])}, nil
	case market.KindJob:
		id, err := s.client.Contract.Query().Where(contract.JobID(pulid.ID(ev.IDs["job"]))).OnlyID(ctx)
		if ent.IsNotFound(err) {
			return nil, nil
		}
		return &AdminQueueEvent{Queue: QueueReleases, ItemID: id}, err
	case market.KindDispute:
		return &AdminQueueEvent{Queue: QueueDisputes, ItemID: pulid.ID(ev.IDs["dispute"])}, nil
	case kindWithdrawalUpdated:
		return &AdminQueueEvent{Queue: QueueWithdrawals, ItemID: pulid.ID(ev.IDs["withdrawal"])}, nil
	case kindChargeback:
		return &AdminQueueEvent{Queue: QueueChargebacks, ItemID: pulid.ID(ev.IDs["chargeback"])}, nil
	case kindFraudWarning:
		id, err := s.client.FraudWarning.Query().Where(fraudwarning.StripeWarningID(ev.IDs["stripeWarning"])).OnlyID(ctx)
		return &AdminQueueEvent{Queue: QueueChargebacks, ItemID: id}, err
	case kindFrozen, kindUnfrozen:
		id, err := s.client.Wallet.Query().Where(wallet.UserID(pulid.ID(ev.IDs["user"]))).OnlyID(ctx)
		return &AdminQueueEvent{Queue: QueueFrozenWallets, ItemID: id}, err
	}
	return nil, nil
}

// publishToAdmins tells admins' queues of a change in payments, in tx.
func (s *Service) publishToAdmins(ctx context.Context, tx *ent.Tx, kind, idKey string, id pulid.ID) error {
	if err := s.broker.PublishTx(ctx, tx, realtime.Event{Topic: market.AdminTopic, Kind: kind,
		IDs: map[string]string{idKey: string(id)}}); err != nil {
		return fmt.Errorf("publish %s to admins: %w", kind, err)
	}
	return nil
}

// FrozenWallets pages the wallets frozen now, for admins, oldest first.
func (s *Service) FrozenWallets(ctx context.Context, v auth.Viewer, p market.Page) (*ent.WalletConnection, error) {
	if !v.IsAdmin() {
		return nil, auth.NotAuthorized()
	}
	return s.client.Wallet.Query().Where(wallet.IsFrozen(true)).Paginate(ctx, p.After, p.First, p.Before, p.Last)
}

// FrozenNote is the admin's note of a wallet's ADMIN freeze, for admins
// alone: it is what one admin told the others, not the owner.
func FrozenNote(v auth.Viewer, w *ent.Wallet) *string {
	if !v.IsAdmin() {
		return nil
	}
	return w.FrozenNote
}

// One user's money, for that user and admins (the console's user page):
// nil for anyone else.

// WalletOf is a user's wallet.
func (s *Service) WalletOf(ctx context.Context, v auth.Viewer, userID pulid.ID) (*ent.Wallet, error) {
	w, err := s.client.Wallet.Query().Where(wallet.UserID(userID), WalletsVisibleTo(v)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read wallet of %s: %w", userID, err)
	}
	return w, nil
}

// TransactionsOf pages a user's transactions, newest first.
func (s *Service) TransactionsOf(ctx context.Context, v auth.Viewer, userID pulid.ID, p ledger.HistoryPage) (*ent.TransactionConnection, error) {
	if !v.Is(userID) {
		return nil, nil
	}
	return s.ledger.History(ctx, userID, p)
}

// DepositsOf pages a user's deposits, newest first.
func (s *Service) DepositsOf(ctx context.Context, v auth.Viewer, userID pulid.ID, p market.Page) (*ent.DepositConnection, error) {
	if !v.Is(userID) {
		return nil, nil
	}
	return s.client.Deposit.Query().Where(deposit.UserID(userID), DepositsVisibleTo(v)).
		Paginate(ctx, p.After, p.First, p.Before, p.Last, ent.WithDepositOrder(&ent.DepositOrder{
			Direction: entgql.OrderDirectionDesc, Field: ent.DepositOrderFieldCreatedAt,
		}))
}

// WithdrawalsOf pages a user's withdrawals, newest first.
func (s *Service) WithdrawalsOf(ctx context.Context, v auth.Viewer, userID pulid.ID, p market.Page) (*ent.WithdrawalConnection, error) {
	if !v.Is(userID) {
		return nil, nil
	}
	return s.client.Withdrawal.Query().Where(withdrawal.UserID(userID), WithdrawalsVisibleTo(v)).
		Paginate(ctx, p.After, p.First, p.Before, p.Last, ent.WithWithdrawalOrder(newestWithdrawals))
}
