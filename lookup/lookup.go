// Package lookup finds any object by its id for a viewer: Relay's node and
// nodes. An unknown id and an object the viewer may not see are alike nil,
// so ids cannot be probed. Who may see what is each aggregate's own rule,
// named next to it (market.OffersVisibleTo, payments.WalletsVisibleTo, …);
// this package only dispatches on the id's type.
package lookup

import (
	"context"
	"fmt"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/deposit"
	"github.com/jobsphere/jobsphere/ent/dispute"
	"github.com/jobsphere/jobsphere/ent/disputemessage"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/jobapplication"
	"github.com/jobsphere/jobsphere/ent/ledgertransaction"
	"github.com/jobsphere/jobsphere/ent/offer"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/settlementproposal"
	"github.com/jobsphere/jobsphere/ent/wallet"
	"github.com/jobsphere/jobsphere/ent/withdrawal"
	"github.com/jobsphere/jobsphere/market"
	"github.com/jobsphere/jobsphere/payments"
)

// MaxIDs is how many ids Nodes takes at once.
const MaxIDs = 100

// Service looks objects up.
type Service struct{ client *ent.Client }

// New returns the lookup service.
func New(client *ent.Client) *Service { return &Service{client: client} }

// Node loads an object by id for the viewer, or nil.
func (s *Service) Node(ctx context.Context, v auth.Viewer, id pulid.ID) (ent.Noder, error) {
	n, err := s.client.Noder(ctx, id, ent.WithNodeType(ent.IDToType))
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", id, err)
	}
	ok, err := s.visible(ctx, v, n)
	if err != nil {
		return nil, fmt.Errorf("check who may see %s: %w", id, err)
	}
	if !ok {
		return nil, nil
	}
	return n, nil
}

// Nodes loads up to MaxIDs objects as Node does, in the order asked.
func (s *Service) Nodes(ctx context.Context, v auth.Viewer, ids []pulid.ID) ([]ent.Noder, error) {
	if len(ids) > MaxIDs {
		msg := fmt.Sprintf("nodes takes at most %d ids", MaxIDs)
		return nil, jobsphere.InvalidInput(jobsphere.FieldError{Field: "ids", Message: msg})
	}
	nodes := make([]ent.Noder, len(ids))
	for i, id := range ids {
		n, err := s.Node(ctx, v, id)
		if err != nil {
			return nil, err
		}
		nodes[i] = n
	}
	return nodes, nil
}

// visible applies the object's own rule. Every type the schema exposes
// must be listed; anything not listed is hidden, so a new type is private
// until someone decides otherwise. The rule is asked of the database: the
// node holds only the columns the operation selected.
func (s *Service) visible(ctx context.Context, v auth.Viewer, n ent.Noder) (bool, error) {
	c := s.client
	switch n := n.(type) {
	case *ent.User, *ent.Job, *ent.Review: // public profiles and listings; a user's email has its own rule
		return true, nil
	case *ent.Wallet:
		return c.Wallet.Query().Where(wallet.ID(n.ID), payments.WalletsVisibleTo(v)).Exist(ctx)
	case *ent.LedgerTransaction:
		return c.LedgerTransaction.Query().Where(ledgertransaction.ID(n.ID), payments.TransactionsVisibleTo(v)).Exist(ctx)
	case *ent.Deposit:
		return c.Deposit.Query().Where(deposit.ID(n.ID), payments.DepositsVisibleTo(v)).Exist(ctx)
	case *ent.Withdrawal:
		return c.Withdrawal.Query().Where(withdrawal.ID(n.ID), payments.WithdrawalsVisibleTo(v)).Exist(ctx)
	case *ent.JobApplication:
		return c.JobApplication.Query().Where(jobapplication.ID(n.ID), market.ApplicationsVisibleTo(v)).Exist(ctx)
	case *ent.Offer:
		return c.Offer.Query().Where(offer.ID(n.ID), market.OffersVisibleTo(v)).Exist(ctx)
	case *ent.Contract:
		return c.Contract.Query().Where(contract.ID(n.ID), market.ContractsVisibleTo(v)).Exist(ctx)
	case *ent.Escrow:
		return c.Escrow.Query().Where(escrow.ID(n.ID), market.EscrowsVisibleTo(v)).Exist(ctx)
	case *ent.Dispute:
		return c.Dispute.Query().Where(dispute.ID(n.ID), market.DisputesVisibleTo(v)).Exist(ctx)
	case *ent.DisputeMessage:
		return c.DisputeMessage.Query().Where(disputemessage.ID(n.ID), market.DisputeMessagesVisibleTo(v)).Exist(ctx)
	case *ent.SettlementProposal:
		return c.SettlementProposal.Query().Where(settlementproposal.ID(n.ID),
			settlementproposal.HasDisputeWith(market.DisputesVisibleTo(v))).Exist(ctx)
	case *ent.Chargeback, *ent.FraudWarning:
		return payments.MaySeeCases(v), nil
	}
	return false, nil
}
