package server

import (
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/graph"
	"github.com/jobsphere/jobsphere/graph/scalar"
	"github.com/jobsphere/jobsphere/lookup"
	"github.com/jobsphere/jobsphere/payments"
)

// NewServer returns the whole HTTP service. Every route is here.
func NewServer(app *App) http.Handler {
	cfg := app.Config
	m := newMetrics(app.Registry, app.Broker.Subscriptions)
	gql := newGraphQLHandler(cfg, app.Logger, app.Auth, &graph.Resolver{
		Lookup:   lookup.New(app.Client),
		Auth:     app.Auth,
		Ledger:   app.Ledger,
		Market:   app.Market,
		Payments: app.Payments,
		Media:    app.Media,
	}, app.telemetry.graphql)
	gql = trackWebsockets(&app.websockets, m.websockets)(websocketOrigins(cfg.CORSOrigins)(authenticate(app.Auth)(gql)))

	mux := http.NewServeMux()
	if cfg.Playground {
		mux.Handle("GET /{$}", playground.Handler("JobSphere API", "/graphql"))
	}
	mux.Handle("/graphql", m.instrument("/graphql", gql))
	mux.Handle("/query", m.instrument("/graphql", gql))
	// Stripe's webhook endpoint, with the paths the seeds' backends used.
	for _, path := range []string{"/webhooks/stripe", "/webhook", "/api/webhooks/stripe"} {
		mux.Handle("POST "+path, m.instrument("/webhooks/stripe", app.Webhooks))
	}
	mux.Handle("POST /api/media/upload", authenticate(app.Auth)(handleMediaUpload(app.Media)))
	mux.Handle("GET /media/", serveMedia(app.MediaDir()))
	mux.Handle("GET /payments/return", payments.HandleReturn())
	mux.Handle("GET /connect/return", payments.HandleConnectReturn())
	mux.Handle("GET /connect/refresh", payments.HandleConnectReturn())
	if sb := app.Sandbox; sb != nil {
		mux.Handle("GET /sandbox/checkout/{id}", sb.HandleCheckoutPage())
		mux.Handle("POST /sandbox/checkout/{id}/pay", sb.HandlePay())
		mux.Handle("POST /sandbox/checkout/{id}/authenticate", sb.HandleAuthenticateCheckout())
		mux.Handle("POST /sandbox/payment_intents/{id}/authenticate", sb.HandleAuthenticateIntent())
		mux.Handle("GET /sandbox/connect/{accountId}/onboard", sb.HandleOnboardPage())
		mux.Handle("POST /sandbox/connect/{accountId}/onboard", sb.HandleOnboard())
	}
	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(app.DB.PingContext, app.Logger))
	switch {
	case cfg.MetricsOnAPIAddress():
		mux.Handle("GET /metrics", handleMetrics(app.Registry, cfg.MetricsToken))
	case cfg.MetricsAddr == "":
		app.Logger.Warn("metrics are not served: in production /metrics needs METRICS_TOKEN or an address of its own, METRICS_ADDR")
	}

	var h http.Handler = mux
	h = refuseControlCharactersInPath(h)
	bodies := newBodyLimits(cfg, m.slowBodies)
	h = limitBody(bodies)(h)
	h = corsMiddleware(cfg.CORSOrigins)(h)
	h = bodyDeadline(bodies)(h)
	h = withCurrency(cfg.Currency)(h)
	h = withClientIP(cfg.TrustedProxyHops)(h)
	h = recoverPanics(app.Logger)(h)
	h = accessLog(app.Logger)(h)
	h = requestID(h)
	// Outermost, so that the span covers the whole request and every log
	// line of it carries its trace id.
	if app.Tracing != nil {
		h = traceHTTP(app.Tracing, mux)(h)
	}
	return h
}

// NewMetricsServer is the server for METRICS_ADDR: /metrics only, behind
// METRICS_TOKEN when it is set.
func NewMetricsServer(app *App) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", handleMetrics(app.Registry, app.Config.MetricsToken))
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

// handleMetrics serves the registry in Prometheus's text format, to the
// holder of token when there is one (Prometheus: authorization.credentials).
func handleMetrics(reg *prometheus.Registry, token string) http.Handler {
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if token == "" {
		return metrics
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(bearerToken(r.Header.Get("Authorization"))), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			respondError(w, http.StatusUnauthorized, string(jobsphere.Unauthenticated), "Send the metrics token: Authorization: Bearer <METRICS_TOKEN>")
			return
		}
		metrics.ServeHTTP(w, r)
	})
}

// withClientIP records the client's address for the per-address limits
// of sign-up and sign-in.
func withClientIP(trustedProxyHops int) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(auth.WithClientIP(r.Context(), auth.RequestIP(r, trustedProxyHops))))
		})
	}
}

// refuseControlCharactersInPath answers 400 to a path holding a control
// character or invalid UTF-8 (%00 …): path values reach the database
// (the sandbox's account ids) and PostgreSQL refuses NUL in text. Strings
// in GraphQL documents and variables are checked by their scalars.
func refuseControlCharactersInPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := scalar.CheckText(r.URL.Path, true); err != nil {
			respondError(w, http.StatusBadRequest, string(jobsphere.BadUserInput), "The path must not contain control characters")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withCurrency lets the Decimal scalar format and parse amounts in the
// deployment's currency.
func withCurrency(c jobsphere.Currency) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(jobsphere.WithCurrency(r.Context(), c)))
		})
	}
}
