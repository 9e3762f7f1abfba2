// Command jobsphere-chaos is the chaos run: it builds the real binary,
// starts several `jobsphere serve` processes on one fresh PostgreSQL
// database against a fake Stripe it serves itself, drives every flow from
// many concurrent GraphQL clients while it SIGKILLs and restarts a random
// process every few seconds (and, at the odds of -stripe-kills, the
// process whose transfer or refund Stripe just made, before it hears the
// answer) and delivers each Stripe event three times in shuffled order,
// then checks that every payment was credited once and that the money
// adds up (`jobsphere ledger verify` and SQL against the database,
// compared with what the fake Stripe was paid and paid out).
//
//	go run ./cmd/jobsphere-chaos            # 4 processes, 50 clients, 2,000 operations
//	go run ./cmd/jobsphere-chaos -short     # 2 processes, 10 clients, 200 operations
//
// It exits non-zero on any violation and keeps the database and the
// server logs for a look.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "jobsphere-chaos:", err)
		os.Exit(1)
	}
}
