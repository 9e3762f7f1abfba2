package server

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// instrumentationName names the tracer of this package's spans.
const instrumentationName = "github.com/jobsphere/jobsphere/server"

// propagator reads a caller's W3C trace context and baggage, so that a
// client's or a proxy's trace continues into the server's spans.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// traceHTTP starts a span for every request, named after the route that
// serves it ("POST /graphql"), never after the raw path.
func traceHTTP(tp trace.TracerProvider, mux *http.ServeMux) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return otelhttp.NewHandler(next, "http.server",
			otelhttp.WithTracerProvider(tp),
			otelhttp.WithPropagators(propagator),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
				_, pattern := mux.Handler(r)
				if pattern == "" {
					return r.Method // no route: a 404 or 405
				}
				// Patterns may start with a method ("POST /webhook"); the
				// request's method says the same.
				if _, path, ok := strings.Cut(pattern, " "); ok {
					pattern = path
				}
				return r.Method + " " + pattern
			}),
		)
	}
}
