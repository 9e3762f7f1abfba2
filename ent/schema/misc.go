package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// Media is an uploaded image or video.
type Media struct{ ent.Schema }

// Mixin of the Media.
func (Media) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("med"), CreatedMixin{}}
}

// Fields of the Media.
func (Media) Fields() []ent.Field {
	return []ent.Field{
		field.String("owner_id").GoType(pulid.ID("")).Immutable(),
		field.String("url").NotEmpty().Immutable(),
		field.Enum("media_type").Values("IMAGE", "VIDEO").Immutable(),
		field.Int64("bytes").Immutable(),
		field.Enum("provider").Values("LOCAL", "CLOUDINARY").Immutable(),
		field.String("provider_id").NotEmpty().Immutable(),
	}
}

// Edges of the Media.
func (Media) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("owner", User.Type).Field("owner_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Media: every upload adds up its owner's files for the
// quota.
func (Media) Indexes() []ent.Index {
	return []ent.Index{index.Fields("owner_id")}
}

// Annotations of the Media.
func (Media) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// RefreshToken is an opaque, single-use refresh token, stored as a hash.
// Tokens minted from one login form a family; reusing a spent token revokes
// the whole family.
type RefreshToken struct{ ent.Schema }

// Mixin of the RefreshToken.
func (RefreshToken) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("rtk"), CreatedMixin{}}
}

// Fields of the RefreshToken.
func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").GoType(pulid.ID("")).Immutable(),
		field.String("token_hash").Unique().NotEmpty().Immutable().Sensitive(),
		field.String("family_id").NotEmpty().Immutable(),
		field.Time("expires_at").Immutable(),
		// Set when the token is rotated (used) or revoked; a token is live
		// only while this is empty.
		field.Time("used_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

// Edges of the RefreshToken.
func (RefreshToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("refresh_tokens").Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the RefreshToken.
func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("family_id")}
}

// Annotations of the RefreshToken.
func (RefreshToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// RateLimitBucket counts requests per key in a fixed window. It lives in
// the database so limits hold across replicas.
type RateLimitBucket struct{ ent.Schema }

// Mixin of the RateLimitBucket.
func (RateLimitBucket) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("rlb")}
}

// Fields of the RateLimitBucket.
func (RateLimitBucket) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").NotEmpty().Immutable(),
		field.Time("window_start").Immutable(),
		field.Int("count").Default(0),
	}
}

// Indexes of the RateLimitBucket.
func (RateLimitBucket) Indexes() []ent.Index {
	return []ent.Index{index.Fields("key", "window_start").Unique()}
}

// Annotations of the RateLimitBucket.
func (RateLimitBucket) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
