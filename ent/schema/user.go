package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// User is a customer, a contractor or an admin.
type User struct{ ent.Schema }

// Mixin of the User.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("usr"), TimeMixin{}}
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		// Stored lower-cased; unique. Exposed by a resolver that hides it
		// from everyone but the user and admins.
		field.String("email").Unique().NotEmpty().Annotations(hidden),
		field.String("password_hash").Sensitive().NotEmpty().Annotations(hidden),
		field.String("name").NotEmpty(),
		// The GraphQL enum Role is written by hand (graph/auth.graphqls)
		// because it also lists the input aliases CLIENT and FREELANCER.
		field.Enum("role").GoType(role.Role("")).
			Annotations(entgql.Type("Role"), entgql.Skip(entgql.SkipEnumField)),
		field.String("avatar_url").Optional().Nillable().
			Annotations(entgql.MapsTo("avatarUrl")),
		field.String("stripe_customer_id").Optional().Nillable().Unique().Annotations(hidden),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("wallet", Wallet.Type).Unique().Annotations(hidden), // private: read through Query.wallet
		edge.To("refresh_tokens", RefreshToken.Type).Annotations(hidden),
		edge.To("connect_account", ConnectAccount.Type).Unique(),
		edge.To("posted_jobs", Job.Type).Annotations(hidden),
		edge.To("applications", JobApplication.Type).Annotations(hidden),
		edge.To("reviews_received", Review.Type).Annotations(hidden), // paged: graph/market.graphqls
	}
}

// Annotations of the User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
