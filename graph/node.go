package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// node loads an object by id for the signed-in viewer (package lookup).
func (r *Resolver) node(ctx context.Context, id pulid.ID) (ent.Noder, error) {
	v, err := auth.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	return r.Lookup.Node(ctx, v, id)
}

// nodes loads objects as node does, in the order asked.
func (r *Resolver) nodes(ctx context.Context, ids []pulid.ID) ([]ent.Noder, error) {
	v, err := auth.ViewerFrom(ctx)
	if err != nil {
		return nil, err
	}
	return r.Lookup.Nodes(ctx, v, ids)
}

// mayReadEmail: a user's email is for themself and admins. "Themself" is
// the viewer, or the user an AuthPayload was just issued to (register and
// login answer before the request has a viewer).
func mayReadEmail(ctx context.Context, u *ent.User) bool {
	if v, err := auth.ViewerFrom(ctx); err == nil && (v.UserID == u.ID || v.IsAdmin()) {
		return true
	}
	// Only AuthPayload.user itself: the email field's parent is that user
	// field. Users nested deeper (a review's client) are other people.
	fc := graphql.GetFieldContext(ctx)
	return fc != nil && fc.Parent != nil && fc.Parent.Object == "AuthPayload" && fc.Parent.Field.Name == "user"
}
