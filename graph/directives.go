package graph

import (
	"context"
	"slices"

	"github.com/99designs/gqlgen/graphql"

	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/graph/generated"
)

// Directives returns the schema's directive implementations.
func Directives() generated.DirectiveRoot {
	return generated.DirectiveRoot{
		Authenticated: func(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
			if _, err := auth.ViewerFrom(ctx); err != nil {
				return nil, err
			}
			return next(ctx)
		},
		HasRole: func(ctx context.Context, _ any, next graphql.Resolver, roles []role.Role) (any, error) {
			v, err := auth.ViewerFrom(ctx)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(roles, v.Role) {
				return nil, auth.NotAuthorized()
			}
			return next(ctx)
		},
	}
}

// viewer is the signed-in viewer of a field guarded by @authenticated or
// @hasRole, which have already refused a request without one.
func viewer(ctx context.Context) auth.Viewer {
	v, _ := auth.ViewerFrom(ctx)
	return v
}
