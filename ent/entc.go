//go:build ignore

// Generates ent's code and the entgql part of the GraphQL schema.
// Run from the repository root: go run ./ent/entc.go (make generate).
package main

import (
	"log"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("graph/ent.graphqls"),
		entgql.WithConfigPath("gqlgen.yml"),
		entgql.WithWhereInputs(true),
		entgql.WithNodeDescriptor(false),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	templates := append(entgql.AllTemplates,
		gen.MustParse(gen.NewTemplate("pulid").ParseFiles("ent/schema/template/pulid.tmpl")),
		gen.MustParse(gen.NewTemplate("withtx").ParseFiles("ent/schema/template/withtx.tmpl")))
	err = entc.Generate("./ent/schema", &gen.Config{
		Target:    "./ent",
		Package:   "github.com/jobsphere/jobsphere/ent",
		Templates: templates,
		Features: []gen.Feature{
			gen.FeatureVersionedMigration,
			gen.FeatureLock,
			gen.FeatureUpsert,
			gen.FeatureExecQuery,
			gen.FeatureModifier,
		},
	}, entc.Extensions(ex))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
