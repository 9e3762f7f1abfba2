package market

import (
	"context"

	"entgo.io/contrib/entgql"

	"github.com/jobsphere/jobsphere"

	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/jobapplication"
	"github.com/jobsphere/jobsphere/ent/offer"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
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

// Applications pages a job's applications: all of them for the job's
// customer and admins, a contractor's own for a contractor.
func (s *Service) Applications(ctx context.Context, v auth.Viewer, j *ent.Job, first *int, after *ent.Cursor) (*ent.JobApplicationConnection, error) {
	return s.client.JobApplication.Query().Where(jobapplication.JobID(j.ID), ApplicationsVisibleTo(v)).
		Paginate(ctx, after, first, nil, nil)
}

// LiveOffer is the job's pending or accepted offer, for its parties and
// admins; nil for anyone else.
func (s *Service) LiveOffer(ctx context.Context, v auth.Viewer, jobID pulid.ID) (*ent.Offer, error) {
	o, err := s.client.Offer.Query().
		Where(offer.JobID(jobID), offer.StatusIn(offer.StatusPENDING, offer.StatusACCEPTED)).Only(ctx)
	if ent.IsNotFound(err) || (err == nil && !v.Is(o.CustomerID, o.ContractorID)) {
		return nil, nil
	}
	return o, err
}

// ContractOfJob is the job's contract, for its parties and admins.
func (s *Service) ContractOfJob(ctx context.Context, v auth.Viewer, jobID pulid.ID) (*ent.Contract, error) {
	c, err := s.client.Contract.Query().Where(contract.JobID(jobID)).Only(ctx)
	if ent.IsNotFound(err) || (err == nil && !v.Is(c.CustomerID, c.ContractorID)) {
		return nil, nil
	}
	return c, err
}

// EscrowOf is a contract's escrow, for the contract's parties: a
// contract is public through its reviews, the money in it is not.
func (s *Service) EscrowOf(ctx context.Context, v auth.Viewer, c *ent.Contract) (*ent.Escrow, error) {
	if !v.Is(c.CustomerID, c.ContractorID) {
		return nil, jobsphere.Errorf(jobsphere.Forbidden, "Only the contract's parties see its escrow")
	}
	if esc, err := c.Edges.EscrowOrErr(); err == nil && esc != nil {
		return esc, nil // loaded with the contract
	}
	return s.client.Escrow.Query().Where(escrow.ContractID(c.ID)).Only(ctx)
}
