package market

import (
	"context"

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

// Applications pages a job's applications: all of them for the job's
// customer and admins, a contractor's own for a contractor.
func (s *Service) Applications(ctx context.Context, v auth.Viewer, j *ent.Job, first *int, after *ent.Cursor) (*ent.JobApplicationConnection, error) {
	q := s.client.JobApplication.Query().Where(jobapplication.JobID(j.ID))
	if j.PostedByID != v.UserID && !v.IsAdmin() {
		q.Where(jobapplication.ContractorID(v.UserID))
	}
	return q.Paginate(ctx, after, first, nil, nil)
}

// LiveOffer is the job's pending or accepted offer, for its parties and
// admins; nil for anyone else.
func (s *Service) LiveOffer(ctx context.Context, v auth.Viewer, jobID pulid.ID) (*ent.Offer, error) {
	o, err := s.client.Offer.Query().
		Where(offer.JobID(jobID), offer.StatusIn(offer.StatusPENDING, offer.StatusACCEPTED)).Only(ctx)
	if ent.IsNotFound(err) || (err == nil && !v.IsAdmin() && o.CustomerID != v.UserID && o.ContractorID != v.UserID) {
		return nil, nil
	}
	return o, err
}

// ContractOfJob is the job's contract, for its parties and admins.
func (s *Service) ContractOfJob(ctx context.Context, v auth.Viewer, jobID pulid.ID) (*ent.Contract, error) {
	c, err := s.client.Contract.Query().Where(contract.JobID(jobID)).Only(ctx)
	if ent.IsNotFound(err) || (err == nil && !IsParty(v, c.CustomerID, c.ContractorID)) {
		return nil, nil
	}
	return c, err
}

// EscrowOf is a contract's escrow, for the contract's parties: a
// contract is public through its reviews, the money in it is not.
func (s *Service) EscrowOf(ctx context.Context, v auth.Viewer, c *ent.Contract) (*ent.Escrow, error) {
	if !IsParty(v, c.CustomerID, c.ContractorID) {
		return nil, jobsphere.Errorf(jobsphere.Forbidden, "Only the contract's parties see its escrow")
	}
	return s.client.Escrow.Query().Where(escrow.ContractID(c.ID)).Only(ctx)
}

// IsParty reports whether the viewer is one of the users, or an admin.
func IsParty(v auth.Viewer, users ...pulid.ID) bool {
	if v.IsAdmin() {
		return true
	}
	for _, u := range users {
		if u == v.UserID {
			return true
		}
	}
	return false
}
