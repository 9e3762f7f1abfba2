package app

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/XSAM/otelsql"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobsphere/jobsphere/app/database"
	"github.com/jobsphere/jobsphere/config"
)

// newTracerProvider returns the tracer provider that sends spans to
// cfg.TracesEndpoint over OTLP/HTTP, or nil when tracing is off: then
// nothing is instrumented at all, so tracing costs nothing.
//
// The provider is the App's own rather than OpenTelemetry's global one,
// so that several Apps in one process (tests) keep their spans apart.
// The SDK reads the rest of its settings from the process environment:
// the sampler (OTEL_TRACES_SAMPLER, default parent-based always-on), the
// batching (OTEL_BSP_*), the exporter's headers, timeout, compression and
// certificates (OTEL_EXPORTER_OTLP_[TRACES_]*), OTEL_RESOURCE_ATTRIBUTES.
func newTracerProvider(ctx context.Context, cfg *config.Config) (*sdktrace.TracerProvider, error) {
	if cfg.TracesEndpoint == "" {
		return nil, nil
	}
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.TracesEndpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	// Later detectors win: the configured service name over
	// OTEL_RESOURCE_ATTRIBUTES' (both come from the same environment).
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
		resource.WithAttributes(semconv.ServiceName(cfg.ServiceName)),
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res)), nil
}

// sqlOpener opens the database through otelsql when tp is set, so that
// every statement run on behalf of a traced request becomes a span, and
// plainly otherwise. Statements outside any trace (migrations, the
// background sweeps) make no spans: each would be a trace of its own.
func sqlOpener(tp *sdktrace.TracerProvider) database.Opener {
	if tp == nil {
		return database.OpenDB
	}
	return func(dialect string, c driver.Connector) *sql.DB {
		system := semconv.DBSystemNameSQLite
		if dialect == "postgres" {
			system = semconv.DBSystemNamePostgreSQL
		}
		return otelsql.OpenDB(c,
			otelsql.WithTracerProvider(tp),
			otelsql.WithAttributes(system),
			otelsql.WithSpanOptions(otelsql.SpanOptions{
				// Statements carry placeholders, not values: the query text
				// holds no personal data and is kept.
				OmitConnResetSession: true,
				OmitRows:             true,
				DisableErrSkip:       true,
				SpanFilter: func(ctx context.Context, _ otelsql.Method, _ string, _ []driver.NamedValue) bool {
					return trace.SpanContextFromContext(ctx).IsValid()
				},
			}),
		)
	}
}
