package market

import (
	"context"
	"fmt"

	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/dispute"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
)

// DisputesOf pages the disputes of a user's contracts, oldest first, for
// that user and admins (the console's user page); nil for others.
func (s *Service) DisputesOf(ctx context.Context, v auth.Viewer, userID pulid.ID, p Page) (*ent.DisputeConnection, error) {
	if !v.Is(userID) {
		return nil, nil
	}
	return s.client.Dispute.Query().
		Where(DisputesVisibleTo(v), dispute.HasContractWith(contract.Or(contract.CustomerID(userID), contract.ContractorID(userID)))).
		Paginate(ctx, p.After, p.First, p.Before, p.Last, ent.WithDisputeOrder(oldestDisputes))
}

// DisputeSplitPreview is what settling a dispute with the contractor's
// share would pay each side, for its parties and admins: the split
// settle makes, computed by the same function.
func (s *Service) DisputeSplitPreview(ctx context.Context, v auth.Viewer, disputeID pulid.ID, share int64) (*ledger.Settlement, error) {
	_, c, err := s.disputeOf(ctx, v, disputeID, auth.Viewer.Is)
	if err != nil {
		return nil, err
	}
	if err := s.checkShare(ctx, c, share); err != nil {
		return nil, err
	}
	esc, err := s.client.Escrow.Query().Where(escrow.ContractID(c.ID)).Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("read escrow of %s: %w", c.ID, err)
	}
	split, err := s.splitOf(ctx, c, esc, share)
	if err != nil {
		return nil, err
	}
	return &split, nil
}
