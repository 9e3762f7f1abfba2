package pulid

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

// MixinWithPrefix gives a schema a string id of the form prefix_ULID.
func MixinWithPrefix(prefix string) *Mixin { return &Mixin{prefix: prefix} }

// Mixin defines the id field and records its prefix as an annotation,
// from which the generated prefix → table map is built.
type Mixin struct {
	mixin.Schema
	prefix string
}

// Fields provides the id field.
func (m Mixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").
			GoType(ID("")).
			DefaultFunc(func() ID { return New(m.prefix) }).
			Immutable(),
	}
}

// Annotation captures the id prefix for a type.
type Annotation struct{ Prefix string }

// Name implements the ent Annotation interface.
func (Annotation) Name() string { return "PULID" }

// Annotations returns the annotations for a Mixin instance.
func (m Mixin) Annotations() []schema.Annotation {
	return []schema.Annotation{Annotation{Prefix: m.prefix}}
}
