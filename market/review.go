package market

import (
	"context"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/review"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// RatingSummary is the average star rating a contractor received.
type RatingSummary struct {
	Average float64
	Count   int
}

// Rating summarises the reviews a contractor received.
func (s *Service) Rating(ctx context.Context, contractorID pulid.ID) (*RatingSummary, error) {
	var rows []struct {
		Count   int     `json:"count"`
		Average float64 `json:"average"`
	}
	err := s.client.Review.Query().
		Where(review.FreelancerID(contractorID)).
		Aggregate(ent.As(ent.Count(), "count"), ent.As(ent.Mean(review.FieldRating), "average")).
		Scan(ctx, &rows)
	if err != nil || len(rows) == 0 {
		return &RatingSummary{}, err
	}
	return &RatingSummary{Average: rows[0].Average, Count: rows[0].Count}, nil
}
