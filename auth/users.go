package auth

import (
	"context"
	"strings"

	"entgo.io/contrib/entgql"

	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/user"
)

// Users pages the users for an admin, newest first. search, when set,
// matches an id exactly or part of an email or a name, in any case.
func (s *Service) Users(ctx context.Context, v Viewer, search *string, first *int, after *ent.Cursor) (*ent.UserConnection, error) {
	if !v.IsAdmin() {
		return nil, NotAuthorized()
	}
	q := s.client.User.Query()
	if search != nil {
		if term := strings.TrimSpace(*search); term != "" {
			q.Where(user.Or(user.ID(pulid.ID(term)), user.EmailContains(strings.ToLower(term)), user.NameContainsFold(term)))
		}
	}
	return q.Paginate(ctx, after, first, nil, nil, ent.WithUserOrder(&ent.UserOrder{
		Direction: entgql.OrderDirectionDesc, Field: ent.UserOrderFieldCreatedAt,
	}))
}
