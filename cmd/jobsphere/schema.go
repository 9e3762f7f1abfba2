package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"

	"github.com/jobsphere/jobsphere/graph/generated"
)

// schemaCommand is `schema`: the SDL of the schema the server serves, as
// `make generate` commits it in schema.graphql for client tooling
// (graphql-codegen, ferry, Apollo).
func schemaCommand(*flag.FlagSet) action {
	return func(_ context.Context, e env) error { return writeSchema(e.stdout) }
}

// writeSchema formats the executable schema gqlgen generated: the types of
// graph/*.graphqls and ent's, without GraphQL's built-in ones and without
// gqlgen's own directives.
func writeSchema(w io.Writer) error {
	var sdl bytes.Buffer
	sdl.WriteString("# The JobSphere API's GraphQL schema, for client tooling. `jobsphere schema` prints it;\n" +
		"# `make generate` writes it from graph/*.graphqls and ent/schema: do not edit it by hand.\n")
	formatter.NewFormatter(&sdl).FormatSchema(withoutGoDirectives(generated.NewExecutableSchema(generated.Config{}).Schema()))
	_, err := w.Write(sdl.Bytes())
	return err
}

// withoutGoDirectives is a copy of s without gqlgen's directives (@goModel,
// @goField, …): they name Go types, which mean nothing to a client, and
// introspection does not show them either. s is the generated code's own
// schema, shared by every server in the process: it is not changed.
func withoutGoDirectives(s *ast.Schema) *ast.Schema {
	out := *s
	out.Directives = map[string]*ast.DirectiveDefinition{}
	for name, d := range s.Directives {
		if !goDirective(name) {
			out.Directives[name] = d
		}
	}
	out.Types = make(map[string]*ast.Definition, len(s.Types))
	for name, def := range s.Types {
		d := *def
		d.Directives = keepDirectives(def.Directives)
		d.Fields = copyWithout(def.Fields, func(f *ast.FieldDefinition) *ast.DirectiveList {
			f.Arguments = copyWithout(f.Arguments, func(a *ast.ArgumentDefinition) *ast.DirectiveList { return &a.Directives })
			return &f.Directives
		})
		d.EnumValues = copyWithout(def.EnumValues, func(v *ast.EnumValueDefinition) *ast.DirectiveList { return &v.Directives })
		out.Types[name] = &d
	}
	return &out
}

// copyWithout copies each item of list, and drops gqlgen's directives
// from the list directives finds in the copy.
func copyWithout[T any](list []*T, directives func(*T) *ast.DirectiveList) []*T {
	out := make([]*T, len(list))
	for i, item := range list {
		c := *item
		d := directives(&c)
		*d = keepDirectives(*d)
		out[i] = &c
	}
	return out
}

func goDirective(name string) bool { return strings.HasPrefix(name, "go") }

func keepDirectives(list ast.DirectiveList) ast.DirectiveList {
	var kept ast.DirectiveList
	for _, d := range list {
		if !goDirective(d.Name) {
			kept = append(kept, d)
		}
	}
	return kept
}
