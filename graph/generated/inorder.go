package generated

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// marshalSliceInOrder stands in for graphql.MarshalSliceConcurrently in
// generated.go (make generate rewrites the calls): it marshals a list's
// elements one after the other on the caller's goroutine. gqlgen starts a
// goroutine per element, for elements whose fields wait on I/O; here every
// edge a list can ask for loads with its page (package batch), so those
// goroutines only cost their start, stack growth and scheduling on every
// read. workerLimit is unused; a panic in an element makes it null with
// the error recorded, as gqlgen does.
func marshalSliceInOrder(ctx context.Context, length int, _ int64, omitPanicHandler bool,
	marshalElement func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	ret := make(graphql.Array, length)
	for i := range length {
		elementCtx := graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
		if omitPanicHandler {
			ret[i] = marshalElement(elementCtx, i)
			continue
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					graphql.AddError(elementCtx, graphql.Recover(elementCtx, r))
					ret[i] = graphql.Null
				}
			}()
			ret[i] = marshalElement(elementCtx, i)
		}()
	}
	return ret
}
