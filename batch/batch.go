// Package batch reads what a GraphQL list asks of each of its objects once
// for the whole list: a page of jobs asking for each job's offer reads the
// offers of the page in one query, not one query per job.
//
// It needs no waiting and no guessing at which objects go together. A
// response's scope (PerResponse) records which objects each database query
// returned together (Recorder, an ent interceptor): a page, the jobs of a
// page of transactions, the contracts of those jobs. The first Load of an
// edge for one of them fetches it for all of them; the others find their
// answer ready. An object no query of the response returned (one a
// mutation just made) is fetched on its own.
package batch

import (
	"context"
	"fmt"
	"sync"

	"entgo.io/ent"
	"github.com/99designs/gqlgen/graphql"
)

// PerResponse gives every GraphQL response a scope of its own: a query's
// or a mutation's one response, each event of a subscription.
type PerResponse struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = PerResponse{}

// ExtensionName implements graphql.HandlerExtension.
func (PerResponse) ExtensionName() string { return "BatchPerResponse" }

// Validate implements graphql.HandlerExtension.
func (PerResponse) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse implements graphql.ResponseInterceptor.
func (PerResponse) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	return next(WithScope(ctx))
}

// WithScope returns ctx with a new, empty scope.
func WithScope(ctx context.Context) context.Context {
	return context.WithValue(ctx, scopeKey{}, &scope{places: map[any]place{}})
}

type scopeKey struct{}

// scope is where each object read in one response came from.
type scope struct {
	mu     sync.Mutex
	places map[any]place // by the object's pointer
}

// place is an object's group and its index in it.
type place struct {
	g *group
	i int
}

// group is the objects one query returned, and what was fetched for them.
type group struct {
	members any // []*T

	mu      sync.Mutex
	fetches map[string]*fetch
}

// fetch is one Load's answers for a whole group, made once.
type fetch struct {
	once    sync.Once
	answers any // []R, one per member
	err     error
}

func scopeOf(ctx context.Context) *scope {
	s, _ := ctx.Value(scopeKey{}).(*scope)
	return s
}

// Recorder is an ent interceptor for T's client: it records, in the
// response's scope, the objects of type T each query returns together.
func Recorder[T any]() ent.Interceptor {
	return ent.InterceptFunc(func(next ent.Querier) ent.Querier {
		return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
			v, err := next.Query(ctx, q)
			if s := scopeOf(ctx); s != nil && err == nil {
				if objs, ok := v.([]*T); ok && len(objs) > 0 {
					record(s, objs)
				}
			}
			return v, err
		})
	})
}

func record[T any](s *scope, objs []*T) {
	g := &group{members: objs, fetches: map[string]*fetch{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, obj := range objs {
		s.places[obj] = place{g: g, i: i}
	}
}

// Load returns fetchAll's answer for obj. fetchAll answers for a list of
// objects, one answer each, in their order. When obj came from a query
// together with others, fetchAll runs once for all of them, by the first
// Load of name (on the same GraphQL field) for any of them; else for obj
// alone.
//
// name tells apart what different callers fetch for the same objects. The
// GraphQL field's alias is added to it: two aliases of a field may select
// different columns and edges of what they load.
func Load[T, R any](ctx context.Context, name string, obj *T, fetchAll func(ctx context.Context, objs []*T) ([]R, error)) (R, error) {
	g, i := find(ctx, obj)
	if g == nil {
		answers, err := fetchFor(ctx, name, []*T{obj}, fetchAll)
		if err != nil {
			var zero R
			return zero, err
		}
		return answers[0], nil
	}
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		name += "\x00" + fc.Field.Alias
	}
	g.mu.Lock()
	f := g.fetches[name]
	if f == nil {
		f = &fetch{}
		g.fetches[name] = f
	}
	g.mu.Unlock()
	f.once.Do(func() { f.answers, f.err = fetchFor(ctx, name, g.members.([]*T), fetchAll) })
	var zero R
	if f.err != nil {
		return zero, f.err
	}
	return f.answers.([]R)[i], nil
}

// fetchFor runs fetchAll, holding it to one answer per object.
func fetchFor[T, R any](ctx context.Context, name string, objs []*T, fetchAll func(context.Context, []*T) ([]R, error)) ([]R, error) {
	answers, err := fetchAll(ctx, objs)
	if err == nil && len(answers) != len(objs) {
		err = fmt.Errorf("batch %s: %d answers for %d objects", name, len(answers), len(objs))
	}
	return answers, err
}

func find[T any](ctx context.Context, obj *T) (*group, int) {
	s := scopeOf(ctx)
	if s == nil {
		return nil, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.places[obj]
	if !ok {
		return nil, 0
	}
	if _, ok := p.g.members.([]*T); !ok {
		return nil, 0
	}
	return p.g, p.i
}

// Nodes returns ctx as seen from the nodes of the connection field ctx
// resolves (its edges { node { … } }), for ent's CollectFields on a query
// of those nodes.
func Nodes(ctx context.Context) context.Context {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return ctx
	}
	oc := graphql.GetOperationContext(ctx)
	for _, edges := range graphql.CollectFields(oc, fc.Field.Selections, nil) {
		if edges.Name != "edges" {
			continue
		}
		for _, node := range graphql.CollectFields(oc, edges.Selections, nil) {
			if node.Name == "node" {
				return graphql.WithFieldContext(ctx, &graphql.FieldContext{Parent: fc, Object: fc.Object, Field: node})
			}
		}
	}
	return ctx
}
