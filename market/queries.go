package market

import (
	"context"

	"entgo.io/contrib/entgql"

	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/offer"
)

// JobsPage asks for one page of jobs (Relay arguments, entgql filters).
type JobsPage struct {
	First, Last   *int
	After, Before *ent.Cursor
	OrderBy       *ent.JobOrder
	Where         *ent.JobWhereInput
	Mine          bool // only the viewer's own postings
}

// Jobs lists jobs: a marketplace listing, visible to every signed-in user.
func (s *Service) Jobs(ctx context.Context, v auth.Viewer, p JobsPage) (*ent.JobConnection, error) {
	q := s.client.Job.Query()
	if p.Mine {
		q.Where(job.PostedByID(v.UserID))
	}
	return q.Paginate(ctx, p.After, p.First, p.Before, p.Last,
		ent.WithJobOrder(p.OrderBy), ent.WithJobFilter(p.Where.Filter))
}

// Page is one page of a Relay connection.
type Page struct {
	First, Last   *int
	After, Before *ent.Cursor
}

// Offers pages the viewer's offers, as customer or contractor (admins:
// all), newest first.
func (s *Service) Offers(ctx context.Context, v auth.Viewer, status *offer.Status, p Page) (*ent.OfferConnection, error) {
	q := s.client.Offer.Query().Where(OffersVisibleTo(v))
	if status != nil {
		q.Where(offer.StatusEQ(*status))
	}
	return q.Paginate(ctx, p.After, p.First, p.Before, p.Last, ent.WithOfferOrder(newestOffers))
}

// Contracts pages the viewer's contracts, as customer or contractor
// (admins: all), newest first; status and escrowStatus filter.
func (s *Service) Contracts(ctx context.Context, v auth.Viewer, status *contract.Status, escrowStatus *escrow.Status, p Page) (*ent.ContractConnection, error) {
	// Escrows in one query for the page, not one per contract (EscrowOf).
	q := s.client.Contract.Query().WithEscrow().Where(ContractsVisibleTo(v))
	if status != nil {
		q.Where(contract.StatusEQ(*status))
	}
	if escrowStatus != nil {
		q.Where(contract.HasEscrowWith(escrow.StatusEQ(*escrowStatus)))
	}
	return q.Paginate(ctx, p.After, p.First, p.Before, p.Last, ent.WithContractOrder(newestContracts))
}

var (
	newestOffers    = &ent.OfferOrder{Direction: entgql.OrderDirectionDesc, Field: ent.OfferOrderFieldCreatedAt}
	newestContracts = &ent.ContractOrder{Direction: entgql.OrderDirectionDesc, Field: ent.ContractOrderFieldCreatedAt}
)
