// Command jobsphere-bench is the load generator: it builds the server,
// starts it against fresh PostgreSQL databases (Stripe mode against
// stripe-mock, with a webhook secret of its own so it can sign events),
// drives money mutations, reads, websocket fan-out, webhook ingestion, a
// large statement export (CSV) and cold starts, runs pgbench on the same
// PostgreSQL for scale, and prints a markdown table. Everything it starts (servers, stripe-mock, databases)
// is stopped or dropped on exit and on Ctrl-C.
//
//	go run ./cmd/jobsphere-bench                  # the full run
//	go run ./cmd/jobsphere-bench -quick           # tiny sizes, seconds
//	go run ./cmd/jobsphere-bench -only money,reads -duration 1m
//	go run ./cmd/jobsphere-bench -only money,webhooks,fanout -profile /tmp/prof
//	go run ./cmd/jobsphere-bench -only export -export-transactions 1000000
//	go run ./cmd/jobsphere-bench -only fanout -broker nats
//
// PostgreSQL: $BENCH_DATABASE_URL, else $TEST_DATABASE_URL, else
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. The fan-out
// phase's broker is -broker: postgres (LISTEN/NOTIFY, the default), nats
// (NATS_URL: $BENCH_NATS_URL, else $TEST_NATS_URL, else
// nats://127.0.0.1:4222) or memory (in-process, the server on SQLite).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := exitCode(run(ctx, os.Args, os.Getenv, os.Stdout))
	stop()
	os.Exit(code)
}
