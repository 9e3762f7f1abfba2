package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/batch"
	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/graph"
	"github.com/jobsphere/jobsphere/graph/generated"
)

// newGraphQLHandler assembles the GraphQL endpoint: the transports that
// Apollo Client, graphql-ws and Flutter's clients speak, and the limits
// that keep one request from costing the server too much. observer counts,
// times and traces every operation; sockets are the open websockets.
func newGraphQLHandler(cfg *config.Config, logger *slog.Logger, authn *auth.Service, resolver *graph.Resolver, observer *graphqlObserver, sockets *socketSet) http.Handler {
	srv := handler.New(graph.WeighPages(generated.NewExecutableSchema(generated.Config{
		Resolvers:  resolver,
		Directives: graph.Directives(),
	})))
	srv.AddTransport(newWebsocketTransport(cfg, logger, authn, sockets))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(jsonPOST{})
	srv.AddTransport(transport.MultipartForm{MaxUploadSize: cfg.MaxUploadBytes, MaxMemory: 8 << 20})
	srv.AddTransport(unsupportedRequest{}) // last: whatever the others do not take

	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetValidationRulesFn(graph.ValidationRules(cfg.Introspection))
	srv.SetDisableSuggestion(!cfg.Introspection)
	// First, so that it sees every operation, however it ends.
	srv.Use(observer)
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	srv.Use(extension.FixedComplexityLimit(cfg.GraphQLMaxComplexity))
	srv.Use(graph.DepthLimit{Max: cfg.GraphQLMaxDepth})
	srv.Use(graph.IntrospectionLimit{Max: 3})
	srv.Use(graph.PageSizes{})
	srv.Use(batch.PerResponse{})
	srv.SetErrorPresenter(graph.ErrorPresenter(logger))
	srv.SetRecoverFunc(graph.RecoverFunc(logger))
	return srv
}

// jsonPOST is gqlgen's POST transport, but a body that is not one JSON
// object is refused here: gqlgen's own message would echo the whole body
// (a password with it), and batches of operations are not supported.
type jsonPOST struct{ transport.POST }

func (t jsonPOST) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	// limitBody has read the body into memory already.
	body, err := io.ReadAll(r.Body)
	if trimmed := bytes.TrimSpace(body); err != nil || len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		respondError(w, http.StatusBadRequest, "BAD_REQUEST",
			`The request body must be one JSON object: {"query": "…", "variables": {…}, "operationName": "…"}`)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	t.POST.Do(w, r, exec)
}

// unsupportedRequest answers a request no other transport takes, in place
// of gqlgen's bare "transport not supported": a POST whose Content-Type is
// neither JSON nor multipart gets 415, any method but GET, POST and
// OPTIONS gets 405 with Allow; both with BAD_REQUEST and what to send.
type unsupportedRequest struct{}

// howToSend is the hint every refusal of unsupportedRequest ends with.
const howToSend = `Send POST with "Content-Type: application/json" and a body like {"query": "{ __typename }"}, ` +
	`or GET with ?query=… (uploads: POST multipart/form-data)`

func (unsupportedRequest) Supports(*http.Request) bool { return true }

func (unsupportedRequest) Do(w http.ResponseWriter, r *http.Request, _ graphql.GraphExecutor) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		respondError(w, http.StatusMethodNotAllowed, "BAD_REQUEST", "Method "+r.Method+" is not supported. "+howToSend)
		return
	}
	// The parsed media type only: the header is the client's text.
	got := "no Content-Type"
	if mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil {
		got = "Content-Type " + mediaType
	} else if r.Header.Get("Content-Type") != "" {
		got = "an unreadable Content-Type"
	}
	respondError(w, http.StatusUnsupportedMediaType, "BAD_REQUEST", "A GraphQL POST with "+got+" is not supported. "+howToSend)
}
