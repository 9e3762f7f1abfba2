package server

import (
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jobsphere/jobsphere"
)

// metrics holds the HTTP metrics, labelled by route pattern rather than
// raw path so that clients cannot blow up their cardinality.
type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	websockets prometheus.Gauge
	slowBodies prometheus.Counter
}

// newMetrics creates the HTTP and realtime metrics and registers them
// with reg; subscriptions counts the live GraphQL subscriptions.
func newMetrics(reg prometheus.Registerer, subscriptions func() int) *metrics {
	m := &metrics{
		requests: newCounter("jobsphere_http_requests_total",
			"HTTP requests handled, by route, method and status code.", "route", "method", "code"),
		duration: newHistogram("jobsphere_http_request_duration_seconds",
			"Time to handle an HTTP request, by route and method.", "route", "method"),
		websockets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jobsphere_websocket_connections",
			Help: "Open GraphQL websocket connections.",
		}),
		slowBodies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jobsphere_http_slow_bodies_total",
			Help: "Requests whose body did not arrive within its read deadline (BODY_READ_TIMEOUT, longer for uploads): answered 408, connection closed.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.websockets, m.slowBodies, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jobsphere_graphql_subscriptions",
		Help: "Live GraphQL subscriptions on this instance.",
	}, func() float64 { return float64(subscriptions()) }))
	return m
}

// instrument counts and times the requests h handles under route. promhttp
// wraps the writer in a delegator that keeps Hijacker and Flusher when the
// writer has them, so websocket upgrades still work through it.
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	l := prometheus.Labels{"route": route}
	counted := promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(l), h)
	timed := promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(l), counted)
	// A websocket lives as long as its client: its "duration" would only
	// swamp the request-latency histogram, so upgrades are counted, not timed.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocketUpgrade(r) {
			counted.ServeHTTP(w, r)
			return
		}
		timed.ServeHTTP(w, r)
	})
}

// NewMetricsServer is the server for METRICS_ADDR: /metrics only, behind
// METRICS_TOKEN when it is set.
func NewMetricsServer(reg *prometheus.Registry, token string) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", handleMetrics(reg, token))
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

func newCounter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// newHistogram makes a latency histogram, in seconds, with the default
// buckets (5ms to 10s).
func newHistogram(name, help string, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: prometheus.DefBuckets}, labels)
}
