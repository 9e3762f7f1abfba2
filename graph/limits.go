package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/jobsphere/jobsphere"
)

// DepthLimit refuses operations nested deeper than Max fields, before any
// resolver runs. Introspection fields (__schema, __type) are not counted:
// GraphiQL's own introspection query is deep by nature and cheap.
type DepthLimit struct{ Max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = DepthLimit{}

// ExtensionName implements graphql.HandlerExtension.
func (DepthLimit) ExtensionName() string { return "DepthLimit" }

// Validate implements graphql.HandlerExtension.
func (d DepthLimit) Validate(graphql.ExecutableSchema) error {
	if d.Max < 1 {
		return fmt.Errorf("depth limit must be positive, got %d", d.Max)
	}
	return nil
}

// MutateOperationContext implements graphql.OperationContextMutator.
func (d DepthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(oc.Operation.SelectionSet, map[string]bool{}); depth > d.Max {
		err := gqlerror.Errorf("Query is too deep: depth %d exceeds the limit of %d", depth, d.Max)
		err.Extensions = map[string]any{"code": "DEPTH_LIMIT_EXCEEDED"}
		return err
	}
	return nil
}

// IntrospectionLimit refuses an operation asking for more than Max
// introspection roots (__schema, __type): the complexity limit does not
// count them, and one is all GraphiQL and code generators ask for.
type IntrospectionLimit struct{ Max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = IntrospectionLimit{}

// ExtensionName implements graphql.HandlerExtension.
func (IntrospectionLimit) ExtensionName() string { return "IntrospectionLimit" }

// Validate implements graphql.HandlerExtension.
func (IntrospectionLimit) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator.
func (l IntrospectionLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if n := introspectionRoots(oc.Operation.SelectionSet, map[string]bool{}); n > l.Max {
		err := gqlerror.Errorf("Too many introspection fields: %d, the limit is %d", n, l.Max)
		err.Extensions = map[string]any{"code": "COMPLEXITY_LIMIT_EXCEEDED"}
		return err
	}
	return nil
}

// introspectionRoots counts __schema and __type fields, aliases included.
func introspectionRoots(set ast.SelectionSet, visiting map[string]bool) int {
	n := 0
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if sel.Name == "__schema" || sel.Name == "__type" {
				n++
			} else {
				n += introspectionRoots(sel.SelectionSet, visiting)
			}
		case *ast.InlineFragment:
			n += introspectionRoots(sel.SelectionSet, visiting)
		case *ast.FragmentSpread:
			if sel.Definition == nil || visiting[sel.Name] {
				continue
			}
			visiting[sel.Name] = true
			n += introspectionRoots(sel.Definition.SelectionSet, visiting)
			delete(visiting, sel.Name)
		}
	}
	return n
}

// selectionDepth walks fields, inline fragments and fragment spreads;
// visiting guards against (invalid, but possible) fragment cycles.
func selectionDepth(set ast.SelectionSet, visiting map[string]bool) int {
	deepest := 0
	for _, sel := range set {
		var d int
		switch sel := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(sel.Name, "__") {
				continue
			}
			d = 1 + selectionDepth(sel.SelectionSet, visiting)
		case *ast.InlineFragment:
			d = selectionDepth(sel.SelectionSet, visiting)
		case *ast.FragmentSpread:
			if sel.Definition == nil || visiting[sel.Name] {
				continue
			}
			visiting[sel.Name] = true
			d = selectionDepth(sel.Definition.SelectionSet, visiting)
			delete(visiting, sel.Name)
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// Page sizes: every connection field (a …Connection with a first
// argument) returns at most MaxPageSize nodes, DefaultPageSize when the client asks
// for none, and costs its page size times its selection in the complexity
// limit, so a query's cost grows with the rows it can fetch.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// PageSizes enforces the page sizes once per operation, before any
// resolver runs: a size out of range refuses the operation, and a
// connection field asked without first or last is given first:
// DefaultPageSize in a copy of the document (the parsed one is cached and
// shared), so resolvers see it as if the client had sent it.
type PageSizes struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = PageSizes{}

// ExtensionName implements graphql.HandlerExtension.
func (PageSizes) ExtensionName() string { return "PageSizes" }

// Validate implements graphql.HandlerExtension.
func (PageSizes) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator.
func (PageSizes) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Doc == nil {
		return nil
	}
	p := pager{vars: oc.Variables, fragments: map[string]*ast.FragmentDefinition{}}
	set, changed := p.paged(oc.Operation.SelectionSet)
	if p.err != nil {
		return p.err
	}
	if !changed && len(p.fragments) == 0 {
		return nil
	}
	op := *oc.Operation
	op.SelectionSet = set
	doc := *oc.Doc
	doc.Operations = make(ast.OperationList, len(oc.Doc.Operations))
	for i, o := range oc.Doc.Operations {
		if o == oc.Operation {
			o = &op
		}
		doc.Operations[i] = o
	}
	doc.Fragments = make(ast.FragmentDefinitionList, len(oc.Doc.Fragments))
	for i, f := range oc.Doc.Fragments {
		if paged := p.fragments[f.Name]; paged != nil {
			f = paged
		}
		doc.Fragments[i] = f
	}
	oc.Operation, oc.Doc = &op, &doc
	return nil
}

// pager checks the page sizes of a selection set and gives the connection
// fields without one the default, copying what it changes.
type pager struct {
	vars      map[string]any
	fragments map[string]*ast.FragmentDefinition // fragments it changed, by name
	visiting  map[string]bool
	err       *gqlerror.Error
}

func (p *pager) paged(set ast.SelectionSet) (ast.SelectionSet, bool) {
	var out ast.SelectionSet
	for i, sel := range set {
		changed := sel
		switch sel := sel.(type) {
		case *ast.Field:
			if f, ok := p.field(sel); ok {
				changed = f
			}
		case *ast.InlineFragment:
			if inner, ok := p.paged(sel.SelectionSet); ok {
				copied := *sel
				copied.SelectionSet = inner
				changed = &copied
			}
		case *ast.FragmentSpread:
			p.fragment(sel)
		}
		if changed != sel && out == nil {
			out = append(ast.SelectionSet{}, set[:i]...)
		}
		if out != nil {
			out = append(out, changed)
		}
	}
	if out == nil {
		return set, false
	}
	return out, true
}

// field checks one field and its selection.
func (p *pager) field(f *ast.Field) (*ast.Field, bool) {
	inner, changed := p.paged(f.SelectionSet)
	args := f.Arguments
	if f.Definition != nil && isConnectionField(f.Definition) {
		values := f.ArgumentMap(p.vars)
		asked := false
		for _, name := range []string{"first", "last"} {
			n, ok := pageArg(values[name])
			asked = asked || ok
			if ok && (n < 0 || n > MaxPageSize) && p.err == nil {
				msg := fmt.Sprintf("Page size must be between 0 and %d", MaxPageSize)
				p.err = &gqlerror.Error{Message: msg, Path: ast.Path{ast.PathName(f.Alias)},
					Err: &jobsphere.Error{Code: jobsphere.BadUserInput, Message: msg, Fields: []jobsphere.FieldError{{Field: name, Message: msg}}}}
			}
		}
		if !asked {
			// In place of a first: $n whose variable is null or missing.
			args = ast.ArgumentList{{Name: "first", Value: &ast.Value{Kind: ast.IntValue, Raw: strconv.Itoa(DefaultPageSize)}}}
			for _, a := range f.Arguments {
				if a.Name != "first" {
					args = append(args, a)
				}
			}
			changed = true
		}
	}
	if !changed {
		return f, false
	}
	copied := *f
	copied.SelectionSet, copied.Arguments = inner, args
	return &copied, true
}

// fragment checks a fragment once per operation, and notes its copy when
// it changed.
func (p *pager) fragment(spread *ast.FragmentSpread) {
	def := spread.Definition
	if def == nil || p.visiting[def.Name] || p.fragments[def.Name] != nil {
		return
	}
	if p.visiting == nil {
		p.visiting = map[string]bool{}
	}
	p.visiting[def.Name] = true
	if set, ok := p.paged(def.SelectionSet); ok {
		copied := *def
		copied.SelectionSet = set
		p.fragments[def.Name] = &copied
	}
}

func isConnectionField(def *ast.FieldDefinition) bool {
	return strings.HasSuffix(def.Type.Name(), "Connection") && def.Arguments.ForName("first") != nil
}

// WeighPages makes a connection field cost its page size times its
// selection in gqlgen's complexity limit, nodes(ids) its number of ids
// times its selection, and every other field what es says (gqlgen's
// default: one plus its selection).
func WeighPages(es graphql.ExecutableSchema) graphql.ExecutableSchema { return pageWeights{es} }

type pageWeights struct{ graphql.ExecutableSchema }

func (w pageWeights) Complexity(ctx context.Context, typeName, field string, childComplexity int, args map[string]any) (int, bool) {
	if c, ok := w.ExecutableSchema.Complexity(ctx, typeName, field, childComplexity, args); ok {
		return c, ok
	}
	if typeName == "Query" && field == "nodes" {
		// Each id is one lookup of the selection.
		ids, _ := args["ids"].([]any)
		return 1 + childComplexity*max(len(ids), 1), true
	}
	def := w.Schema().Types[typeName]
	if def == nil || def.Fields.ForName(field) == nil || !isConnectionField(def.Fields.ForName(field)) {
		return 0, false
	}
	size := DefaultPageSize
	for _, name := range []string{"first", "last"} {
		if n, ok := pageArg(args[name]); ok {
			// PageSizes refuses a size out of range with its own,
			// clearer error; here it weighs nothing extra.
			size = int(n)
			if n < 0 || n > MaxPageSize {
				size = 1
			}
		}
	}
	return 1 + childComplexity*max(size, 1), true
}

// pageArg reads an Int argument as parsed from a literal or a variable.
func pageArg(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}
