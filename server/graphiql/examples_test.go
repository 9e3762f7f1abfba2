package graphiql

import (
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/jobsphere/jobsphere/graph"
	"github.com/jobsphere/jobsphere/graph/generated"
)

// TestExamplesRunAlone: every operation of client/operations is offered,
// each document is valid against the server's schema on its own (it
// carries exactly the fragments it needs) and keeps the comment above it.
func TestExamplesRunAlone(t *testing.T) {
	examples, err := loadExamples()
	if err != nil {
		t.Fatal(err)
	}
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{}, Directives: graph.Directives()}).Schema()
	byName := map[string]example{}
	for _, ex := range examples {
		doc, err := parser.ParseQuery(&ast.Source{Name: ex.Name, Input: ex.Document})
		if err != nil {
			t.Fatalf("%s: %v\n%s", ex.Name, err, ex.Document)
		}
		if len(doc.Operations) != 1 || doc.Operations[0].Name != ex.Name {
			t.Errorf("%s: the document holds %d operations", ex.Name, len(doc.Operations))
		}
		// NoUnusedFragments is among the rules: a fragment too many fails.
		if errs := validator.ValidateWithRules(schema, doc, rules.NewDefaultRules()); len(errs) > 0 {
			t.Errorf("%s does not run alone: %v\n%s", ex.Name, errs, ex.Document)
		}
		byName[ex.Name] = ex
	}
	if len(examples) < 50 || len(byName) != len(examples) {
		t.Fatalf("%d examples, %d names: client/operations has over 50 operations, each named once", len(examples), len(byName))
	}

	// Fragments nest: Login spreads AuthPayloadFields, which spreads UserSummary.
	login := byName["Login"]
	if login.File != "auth.graphql" || !strings.Contains(login.Document, "fragment AuthPayloadFields on AuthPayload") ||
		!strings.Contains(login.Document, "fragment UserSummary on User") {
		t.Errorf("Login:\n%s", login.Document)
	}
	// The comment right above an operation comes with it; the file's
	// header, apart by a blank line, does not.
	refresh := byName["RefreshToken"].Document
	if !strings.HasPrefix(refresh, "# Each refresh token works once") || strings.Contains(byName["Register"].Document, "Accounts and tokens") {
		t.Errorf("RefreshToken:\n%s\nRegister:\n%s", refresh, byName["Register"].Document)
	}
}
