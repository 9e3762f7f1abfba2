package market

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"entgo.io/contrib/entgql"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent/contract"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/review"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// RatingSummary is the average star rating a contractor received.
type RatingSummary struct {
	Average float64
	Count   int
}

// RateInput is a customer's review of the contractor of a contract.
type RateInput struct {
	ContractID  pulid.ID
	Rating      int
	Description string
}

// RateFreelancer records the contract's customer's review of its
// contractor: a COMPLETED contract only, once, rating 1 to 5, with words.
func (s *Service) RateFreelancer(ctx context.Context, v auth.Viewer, in RateInput) (*ent.Review, error) {
	var fields []jobsphere.FieldError
	if in.Rating < 1 || in.Rating > 5 {
		fields = append(fields, jobsphere.FieldError{Field: "rating", Message: "Rating must be an integer from 1 to 5"})
	}
	desc := strings.TrimSpace(in.Description)
	if n := utf8.RuneCountInString(desc); n < 1 || n > 2000 {
		fields = append(fields, jobsphere.FieldError{Field: "description", Message: "Description is required (at most 2000 characters)"})
	}
	if len(fields) > 0 {
		return nil, jobsphere.InvalidInput(fields...)
	}
	c, err := s.client.Contract.Get(ctx, in.ContractID)
	if ent.IsNotFound(err) {
		return nil, notFound("Contract")
	}
	if err != nil {
		return nil, fmt.Errorf("read contract %s: %w", in.ContractID, err)
	}
	if c.CustomerID != v.UserID {
		return nil, auth.NotAuthorized()
	}
	if c.Status != contract.StatusCOMPLETED {
		return nil, jobsphere.Errorf(jobsphere.Conflict, "Contract is %s; only a completed contract can be reviewed", c.Status)
	}
	r, err := s.client.Review.Create().SetContractID(c.ID).SetClientID(c.CustomerID).
		SetFreelancerID(c.ContractorID).SetRating(in.Rating).SetDescription(desc).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, jobsphere.Errorf(jobsphere.Conflict, "This contract has already been reviewed")
	}
	if err != nil {
		return nil, fmt.Errorf("review contract %s: %w", c.ID, err)
	}
	return r, nil
}

// Reviews pages the reviews a contractor received, newest first; public.
func (s *Service) Reviews(ctx context.Context, freelancerID pulid.ID, first *int, after *ent.Cursor) (*ent.ReviewConnection, error) {
	return s.client.Review.Query().Where(review.FreelancerID(freelancerID)).
		Paginate(ctx, after, first, nil, nil, ent.WithReviewOrder(&ent.ReviewOrder{
			Direction: entgql.OrderDirectionDesc, Field: ent.DefaultReviewOrder.Field,
		}))
}
