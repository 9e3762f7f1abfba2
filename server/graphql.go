package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/graph"
	"github.com/jobsphere/jobsphere/graph/generated"
)

// newGraphQLHandler assembles the GraphQL endpoint: the transports that
// Apollo Client, graphql-ws and Flutter's clients speak, and the limits
// that keep one request from costing the server too much. observer counts,
// times and traces every operation.
func newGraphQLHandler(cfg *config.Config, logger *slog.Logger, authn *auth.Service, resolver *graph.Resolver, observer *graphqlObserver) http.Handler {
	srv := handler.New(graph.WeighPages(generated.NewExecutableSchema(generated.Config{
		Resolvers:  resolver,
		Directives: graph.Directives(),
	})))
	srv.AddTransport(transport.Websocket{
		// Origins are checked by websocketOrigins before the upgrade.
		Implementation: transport.CoderWebsocketImplementation{
			AcceptOptions: websocket.AcceptOptions{InsecureSkipVerify: true},
		},
		InitFunc:              websocketInit(authn),
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 15 * time.Second,
		PingPongInterval:      20 * time.Second,
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(jsonPOST{})
	srv.AddTransport(transport.MultipartForm{MaxUploadSize: cfg.MaxUploadBytes, MaxMemory: 8 << 20})

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

// websocketInit authenticates a websocket connection from the token in
// its connection_init payload ({"Authorization": "Bearer …"}, or
// {"authToken": "…"} as some Flutter clients send it). A bad token refuses
// the connection; no token makes an anonymous one.
func websocketInit(authn *auth.Service) transport.WebsocketInitFunc {
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		token := bearerToken(payload.Authorization())
		if token == "" {
			token = payload.GetString("authToken")
		}
		if token == "" {
			return ctx, nil, nil
		}
		v, err := authn.Authenticate(token)
		if err != nil {
			// 4403 is graphql-transport-ws's "Forbidden"; the reason tells
			// the client which (expired or invalid) without internals.
			msg := err.Error()
			var appErr *jobsphere.Error
			if errors.As(err, &appErr) {
				msg = appErr.Message
			}
			ctx = transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, 4403), msg)
			return ctx, nil, errors.New(msg)
		}
		// The connection lives no longer than its token: at expiry its
		// context ends and the client must reconnect with a fresh one.
		ctx, cancel := context.WithDeadline(ctx, v.ExpiresAt)
		context.AfterFunc(ctx, cancel)
		noteViewer(ctx, v)
		return auth.WithViewer(ctx, v), nil, nil
	}
}

// bearerToken strips the "Bearer " scheme, in any case.
func bearerToken(header string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token)
	}
	return ""
}

// authenticate puts the viewer of the request's bearer token in its
// context. A bad token is remembered rather than refused here, so public
// operations (login, register) still work and protected ones can say why.
func authenticate(authn *auth.Service) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			header := r.Header.Get("Authorization")
			if header == "" {
				next.ServeHTTP(w, r)
				return
			}
			ctx := r.Context()
			if v, err := authn.Authenticate(bearerToken(header)); err != nil {
				ctx = auth.WithCredentialError(ctx, err)
			} else {
				ctx = auth.WithViewer(ctx, v)
				noteViewer(ctx, v)
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// trackWebsockets counts open websocket connections so shutdown can wait
// for them, and shows how many are open in the metrics.
func trackWebsockets(wg *sync.WaitGroup, open prometheus.Gauge) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				wg.Add(1)
				open.Inc()
				defer func() { open.Dec(); wg.Done() }()
			}
			next.ServeHTTP(w, r)
		})
	}
}

// websocketOrigins refuses a websocket upgrade from a browser origin not
// in the allow-list (cross-site websocket hijacking).
func websocketOrigins(origins []string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
				!originAllowed(origins, r.Header.Get("Origin")) {
				http.Error(w, "websocket origin not allowed", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
