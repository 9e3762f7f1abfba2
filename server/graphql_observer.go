package server

import (
	"context"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobsphere/jobsphere"
)

// maxOperationNames bounds the operation_name label: any client can make
// up names, so past this many distinct ones the rest count as "other".
const maxOperationNames = 200

// Label values for operations without a usable name.
const (
	opAnonymous = "anonymous" // a valid operation without a name
	opInvalid   = "invalid"   // a document that did not parse or validate, or an unknown persisted query
	opOther     = "other"     // a name past maxOperationNames, or not a sane one
	codeOK      = "OK"
)

// newGraphQLObserver makes the GraphQL metrics and registers them with
// reg; tracer is nil when tracing is off.
func newGraphQLObserver(reg prometheus.Registerer, tracer trace.Tracer) *graphqlObserver {
	o := &graphqlObserver{
		operations: newCounter("jobsphere_graphql_operations_total",
			"GraphQL operations answered, by type, name and result code (OK or the first error's extensions.code). "+
				"A subscription counts once: at its first response, or at its end if it ends before any.",
			"operation_type", "operation_name", "code"),
		duration: newHistogram("jobsphere_graphql_operation_duration_seconds",
			"Time from reading a GraphQL query or mutation to its response, by type and name; subscriptions are not timed.",
			"operation_type", "operation_name"),
		rateLimits: newCounter("jobsphere_rate_limit_refusals_total",
			"Requests refused with RATE_LIMITED, by the root field refused (login, register, deposit, …).", "limit"),
		names:  &labelSet{max: maxOperationNames},
		tracer: tracer,
	}
	reg.MustRegister(o.operations, o.duration, o.rateLimits)
	return o
}

// graphqlObserver is the gqlgen extension that counts, times and traces
// every GraphQL operation, including those refused before they run (bad
// document, over a limit). A subscription is counted once, with the code
// of its first response (it started, or why it did not), or with OK when
// it ends before any event; its events are not counted, and it is not
// timed (it lasts as long as its client wants).
type graphqlObserver struct {
	operations *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	rateLimits *prometheus.CounterVec
	names      *labelSet
	tracer     trace.Tracer // nil: tracing is off
}

var (
	_ graphql.HandlerExtension     = (*graphqlObserver)(nil)
	_ graphql.OperationInterceptor = (*graphqlObserver)(nil)
	_ graphql.ResponseInterceptor  = (*graphqlObserver)(nil)
)

func (o *graphqlObserver) ExtensionName() string                   { return "Observability" }
func (o *graphqlObserver) Validate(graphql.ExecutableSchema) error { return nil }

// operationKey marks the context of an operation InterceptOperation
// observes, so that InterceptResponse leaves it alone.
type operationKey struct{}

// InterceptOperation observes a valid operation: its span is the parent
// of everything its resolvers do, and its first response is counted.
func (o *graphqlObserver) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	opCtx := graphql.GetOperationContext(ctx)
	start := startTime(opCtx)
	span := o.startSpan(&ctx, opCtx, start)
	ctx = context.WithValue(ctx, operationKey{}, true)
	responses := next(ctx)
	var observed atomic.Bool
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if observed.CompareAndSwap(false, true) {
			o.finish(ctx, opCtx, start, resp, span)
		}
		return resp
	}
}

// InterceptResponse observes what InterceptOperation did not see: an
// operation refused while it was being prepared (no document, a parse or
// validation error, an unknown persisted query, a depth or complexity
// limit), which gqlgen answers with DispatchError.
func (o *graphqlObserver) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || ctx.Value(operationKey{}) != nil {
		return resp
	}
	var opCtx *graphql.OperationContext
	if graphql.HasOperationContext(ctx) {
		opCtx = graphql.GetOperationContext(ctx)
	}
	start := startTime(opCtx)
	o.finish(ctx, opCtx, start, resp, o.startSpan(&ctx, opCtx, start))
	return resp
}

func startTime(opCtx *graphql.OperationContext) time.Time {
	if opCtx != nil && !opCtx.Stats.OperationStart.IsZero() {
		return opCtx.Stats.OperationStart
	}
	return time.Now()
}

// operationNames are the type and name an operation is logged under:
// "invalid" for a document that did not parse or validate, "anonymous"
// without a name, "other" for a name no sane client sends.
func operationNames(opCtx *graphql.OperationContext) (typ, name string) {
	switch {
	case opCtx == nil || opCtx.Operation == nil:
		return opInvalid, opInvalid
	case opCtx.Operation.Name == "":
		return string(opCtx.Operation.Operation), opAnonymous
	case !saneName.MatchString(opCtx.Operation.Name):
		return string(opCtx.Operation.Operation), opOther
	}
	return string(opCtx.Operation.Operation), opCtx.Operation.Name
}

// operationLabels are the type and name an operation is counted under:
// its logged names, past maxOperationNames distinct ones "other".
func (o *graphqlObserver) operationLabels(opCtx *graphql.OperationContext) (typ, name string) {
	typ, name = operationNames(opCtx)
	if opCtx != nil && opCtx.Operation != nil && opCtx.Operation.Name != "" {
		name = o.names.bound(opCtx.Operation.Name)
	}
	return typ, name
}

// startSpan starts the operation's span, from start, and puts it in *ctx;
// nil when tracing is off. It is named as OpenTelemetry's GraphQL
// conventions say: "query", or "query OperationName".
func (o *graphqlObserver) startSpan(ctx *context.Context, opCtx *graphql.OperationContext, start time.Time) trace.Span {
	if o.tracer == nil {
		return nil
	}
	name := "GraphQL Operation"
	var attrs []attribute.KeyValue
	if opCtx != nil && opCtx.Operation != nil {
		typ := string(opCtx.Operation.Operation)
		name = typ
		attrs = append(attrs, semconv.GraphQLOperationTypeKey.String(typ))
		if n := opCtx.Operation.Name; n != "" {
			name += " " + n
			attrs = append(attrs, semconv.GraphQLOperationName(n))
		}
	}
	var span trace.Span
	*ctx, span = o.tracer.Start(*ctx, name, trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	return span
}

// finish counts and logs the operation from its first response and ends
// its span.
func (o *graphqlObserver) finish(ctx context.Context, opCtx *graphql.OperationContext, start time.Time, resp *graphql.Response, span trace.Span) {
	typ, name := o.operationLabels(opCtx)
	logged := graphqlOperation{}
	logged.typ, logged.name = operationNames(opCtx)
	// No response: a subscription that ended before its first event (it
	// started well), or a query the client left before it ran.
	if resp == nil && typ != string(ast.Subscription) && ctx.Err() != nil {
		logged.codes = []string{"CANCELLED"}
	}
	if resp != nil {
		for _, e := range resp.Errors {
			code := errorCode(e)
			if code == string(jobsphere.RateLimited) {
				o.rateLimits.WithLabelValues(rootField(opCtx, e.Path)).Inc()
			}
			if !slices.Contains(logged.codes, code) {
				logged.codes = append(logged.codes, code)
			}
		}
	}
	code := codeOK
	if len(logged.codes) > 0 {
		code = logged.codes[0]
	}
	o.operations.WithLabelValues(typ, name, code).Inc()
	if typ != string(ast.Subscription) {
		logged.duration = time.Since(start)
		o.duration.WithLabelValues(typ, name).Observe(logged.duration.Seconds())
	}
	noteOperation(ctx, logged)
	if span != nil {
		span.SetAttributes(attribute.String("graphql.response.code", code))
		if code != codeOK {
			span.SetStatus(codes.Error, code)
		}
		span.End()
	}
}

// validCode is what an extensions.code looks like; anything else is
// counted as UNKNOWN, so the label's values stay the server's own.
var validCode = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,47}$`)

func errorCode(e *gqlerror.Error) string {
	code, _ := e.Extensions["code"].(string)
	if !validCode.MatchString(code) {
		return "UNKNOWN"
	}
	return code
}

// rootField names the schema field at the root of an error's path. The
// path holds the response key, which a client may alias; the field's own
// name is looked up in the operation so that the label stays bounded by
// the schema.
func rootField(opCtx *graphql.OperationContext, path ast.Path) string {
	if len(path) == 0 || opCtx == nil || opCtx.Operation == nil {
		return "unknown"
	}
	key, ok := path[0].(ast.PathName)
	if !ok {
		return "unknown"
	}
	if f := findField(opCtx.Operation.SelectionSet, string(key), 0); f != nil {
		return f.Name
	}
	return "unknown"
}

// findField finds the field answered under key in a selection set,
// looking into fragments (to a bounded depth: validated documents have no
// fragment cycles, but nothing is lost by being careful).
func findField(set ast.SelectionSet, key string, depth int) *ast.Field {
	if depth > 10 {
		return nil
	}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Alias == key || (s.Alias == "" && s.Name == key) {
				return s
			}
		case *ast.InlineFragment:
			if f := findField(s.SelectionSet, key, depth+1); f != nil {
				return f
			}
		case *ast.FragmentSpread:
			if s.Definition != nil {
				if f := findField(s.Definition.SelectionSet, key, depth+1); f != nil {
					return f
				}
			}
		}
	}
	return nil
}

// labelSet admits up to max distinct, sane label values; the rest are
// "other".
type labelSet struct {
	mu   sync.RWMutex
	max  int
	seen map[string]struct{}
}

// saneName is a GraphQL name of reasonable length.
var saneName = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]{0,63}$`)

func (s *labelSet) bound(v string) string {
	if !saneName.MatchString(v) {
		return opOther
	}
	s.mu.RLock()
	_, ok := s.seen[v]
	s.mu.RUnlock()
	if ok {
		return v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[v]; ok {
		return v
	}
	if len(s.seen) >= s.max {
		return opOther
	}
	if s.seen == nil {
		s.seen = map[string]struct{}{}
	}
	s.seen[v] = struct{}{}
	return v
}
