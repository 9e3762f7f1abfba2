// Package server is the HTTP layer: routes (this file, every one of
// them), middleware, the GraphQL handler and its transports, logging,
// metrics, tracing and health. It holds no business rules and builds no
// service: NewServer is given what it serves (package app builds it all).
package server

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/graph"
	"github.com/jobsphere/jobsphere/media"
	"github.com/jobsphere/jobsphere/payments"
	"github.com/jobsphere/jobsphere/server/graphiql"
	"github.com/jobsphere/jobsphere/web"
)

// Services are what the routes serve.
type Services struct {
	Auth     *auth.Service   // reads bearer tokens (GraphQL over HTTP and websocket, uploads, exports)
	Resolver *graph.Resolver // the GraphQL API
	Webhooks http.Handler    // Stripe's webhook endpoint
	Media    *media.Service  // uploads
	MediaDir string          // where local uploads are, served under /media/
	Sandbox  SandboxPages    // nil when payments go to Stripe
	// Ready answers the readiness probe: nil while the database answers.
	Ready func(context.Context) error
	// Subscriptions counts the live GraphQL subscriptions, for the gauge.
	Subscriptions func() int
}

// SandboxPages are the sandbox gateway's pages: its Checkout, 3-D Secure
// and Connect onboarding stand-ins, a connected account's later life
// (bank payouts, disconnecting the platform), and a payment's page with
// the refund Stripe's Dashboard would make and the dispute (chargeback) a
// cardholder's bank would.
type SandboxPages interface {
	HandleCheckoutPage() http.Handler
	HandlePay() http.Handler
	HandleAuthenticateCheckout() http.Handler
	HandleAuthenticateIntent() http.Handler
	HandleOnboardPage() http.Handler
	HandleOnboard() http.Handler
	HandlePayout() http.Handler
	HandleDeauthorize() http.Handler
	HandlePaymentPage() http.Handler
	HandleDashboardRefund() http.Handler
	HandleDispute() http.Handler
	HandleCloseDispute() http.Handler
}

// Server is the whole HTTP service.
type Server struct {
	handler    http.Handler
	websockets *socketSet
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// NewServer returns the whole HTTP service. Every route is here. It logs
// to logger, registers its metrics with reg (and serves reg at /metrics
// when the configuration says so) and traces through tp when it is not
// nil.
func NewServer(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry, tp trace.TracerProvider, svc Services) *Server {
	m := newMetrics(reg, svc.Subscriptions)
	s := &Server{websockets: newSocketSet(m.websockets)}
	var tracer trace.Tracer
	if tp != nil {
		tracer = tp.Tracer(instrumentationName)
	}
	gql := newGraphQLHandler(cfg, logger, svc.Auth, svc.Resolver, newGraphQLObserver(reg, tracer), s.websockets)
	gql = websocketOrigins(cfg.CORSOrigins)(authenticate(svc.Auth)(gql))

	mux := http.NewServeMux()
	if cfg.Playground {
		mux.Handle("GET /{$}", graphiql.Page())
		mux.Handle("GET "+graphiql.AssetPrefix+"{file}", graphiql.Assets())
	}
	// The operator console (web/): a static app, for admins, on /graphql.
	console := web.Console(cfg.PublicURL)
	mux.Handle("GET "+web.Prefix, console)
	mux.Handle("GET "+web.Prefix+"/", console)
	mux.Handle("/graphql", m.instrument("/graphql", gql))
	mux.Handle("/query", m.instrument("/graphql", gql))
	// Stripe's webhook endpoint, with the paths the seeds' backends used.
	for _, path := range []string{"/webhooks/stripe", "/webhook", "/api/webhooks/stripe"} {
		mux.Handle("POST "+path, m.instrument("/webhooks/stripe", svc.Webhooks))
	}
	mux.Handle("POST /api/media/upload", authenticate(svc.Auth)(handleMediaUpload(svc.Media)))
	mux.Handle("GET /media/", serveMedia(svc.MediaDir))
	mux.Handle("GET /api/statements.csv", m.instrument("/api/statements.csv",
		authenticate(svc.Auth)(handleStatementCSV(svc.Resolver.Ledger, svc.Auth, logger))))
	mux.Handle("GET /payments/return", payments.HandleReturn())
	mux.Handle("GET /connect/return", payments.HandleConnectReturn())
	mux.Handle("GET /connect/refresh", payments.HandleConnectReturn())
	if sb := svc.Sandbox; sb != nil {
		mux.Handle("GET /sandbox/checkout/{id}", sb.HandleCheckoutPage())
		mux.Handle("POST /sandbox/checkout/{id}/pay", sb.HandlePay())
		mux.Handle("POST /sandbox/checkout/{id}/authenticate", sb.HandleAuthenticateCheckout())
		mux.Handle("POST /sandbox/payment_intents/{id}/authenticate", sb.HandleAuthenticateIntent())
		mux.Handle("GET /sandbox/connect/{accountId}/onboard", sb.HandleOnboardPage())
		mux.Handle("POST /sandbox/connect/{accountId}/onboard", sb.HandleOnboard())
		mux.Handle("POST /sandbox/connect/{accountId}/payout", sb.HandlePayout())
		mux.Handle("POST /sandbox/connect/{accountId}/deauthorize", sb.HandleDeauthorize())
		mux.Handle("GET /sandbox/payments/{paymentIntentId}", sb.HandlePaymentPage())
		mux.Handle("POST /sandbox/payments/{paymentIntentId}/refund", sb.HandleDashboardRefund())
		mux.Handle("POST /sandbox/payments/{paymentIntentId}/dispute", sb.HandleDispute())
		mux.Handle("POST /sandbox/payments/{paymentIntentId}/dispute/close", sb.HandleCloseDispute())
	}
	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(svc.Ready, logger))
	switch {
	case cfg.MetricsOnAPIAddress():
		mux.Handle("GET /metrics", handleMetrics(reg, cfg.MetricsToken))
	case cfg.MetricsAddr == "":
		logger.Warn("metrics are not served: in production /metrics needs METRICS_TOKEN or an address of its own, METRICS_ADDR")
	}

	var h http.Handler = mux
	h = refuseControlCharactersInPath(h)
	bodies := newBodyLimits(cfg, m.slowBodies)
	h = limitBody(bodies)(h)
	h = corsMiddleware(cfg.CORSOrigins)(h)
	h = bodyDeadline(bodies)(h)
	h = withCurrency(cfg.Currency)(h)
	h = withClientIP(cfg.TrustedProxyHops)(h)
	h = recoverPanics(logger)(h)
	h = accessLog(logger)(h)
	h = requestID(h)
	// Outermost, so that the span covers the whole request and every log
	// line of it carries its trace id.
	if tp != nil {
		h = traceHTTP(tp, mux)(h)
	}
	s.handler = h
	return s
}

// DrainWebsockets closes the open websocket connections, each with a close
// frame, refuses new ones, and waits for them to close, or for ctx to end.
func (s *Server) DrainWebsockets(ctx context.Context) error {
	return s.websockets.drain(ctx)
}
