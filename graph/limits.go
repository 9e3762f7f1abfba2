package graph

import (
	"context"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
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
