// Command sdl prints the API's schema as the server serves it (ent's and
// the hand-written graph/*.graphqls, as gqlgen compiled them), for the
// console's graphql-codegen: go run ./web/sdl > web/schema.graphql.
// gqlgen's own directives (@goModel, @goField, …) are left out: they are
// about the Go code, not the API.
package main

import (
	"os"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"

	"github.com/jobsphere/jobsphere/graph/generated"
)

func main() {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	for name := range schema.Directives {
		if isGo(name) {
			delete(schema.Directives, name)
		}
	}
	for _, def := range schema.Types {
		def.Directives = withoutGo(def.Directives)
		for _, f := range def.Fields {
			f.Directives = withoutGo(f.Directives)
		}
	}
	formatter.NewFormatter(os.Stdout).FormatSchema(schema)
}

func isGo(directive string) bool { return strings.HasPrefix(directive, "go") }

func withoutGo(list ast.DirectiveList) ast.DirectiveList {
	var kept ast.DirectiveList
	for _, d := range list {
		if !isGo(d.Name) {
			kept = append(kept, d)
		}
	}
	return kept
}
