package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// statementGoal is the bound on every money mutation and crediting
// webhook: statements per operation, BEGIN and COMMIT included.
const statementGoal = 8

// serverCost is a reading of the server's own counters on /metrics: the
// SQL statements it has run, its round trips to PostgreSQL, and the CPU
// time its process has used.
type serverCost struct {
	statements, roundTrips, cpuSeconds float64
}

// cost reads the server's counters. A build without the statement
// counters reads as zero statements; its CPU still counts.
func (c *client) cost(ctx context.Context) (serverCost, error) {
	m, err := c.metrics(ctx)
	if err != nil {
		return serverCost{}, fmt.Errorf("read /metrics: %w", err)
	}
	return serverCost{
		statements: m["jobsphere_db_statements_total"],
		roundTrips: m["jobsphere_db_round_trips_total"],
		cpuSeconds: m["process_cpu_seconds_total"],
	}, nil
}

// perOperation is the cost between two readings, divided among n operations.
func (after serverCost) perOperation(before serverCost, n int) serverCost {
	d := float64(max(n, 1))
	return serverCost{
		statements: (after.statements - before.statements) / d,
		roundTrips: (after.roundTrips - before.roundTrips) / d,
		cpuSeconds: (after.cpuSeconds - before.cpuSeconds) / d,
	}
}

// costs is the table of what each operation costs the server, filled by
// the phases and printed once.
type costs struct {
	mu   sync.Mutex
	rows []costRow
}

type costRow struct {
	op      string
	n       int
	cost    serverCost
	bounded bool // held to statementGoal
}

func (t *costs) add(r costRow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = append(t.rows, r)
}

// measure runs n operations, workers at a time, between two readings of
// the server's counters and records their mean cost under op. The
// operations must be all alike: whatever else the server does meanwhile
// (a minute's sweep) is counted in too, and is small beside n of them.
func (t *costs) measure(ctx context.Context, c *client, op string, n, workers int, bounded bool, run func(ctx context.Context, i int) error) error {
	before, err := c.cost(ctx)
	if err != nil {
		return err
	}
	if err := forEach(ctx, n, workers, run); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	after, err := c.cost(ctx)
	if err != nil {
		return err
	}
	t.add(costRow{op: op, n: n, cost: after.perOperation(before, n), bounded: bounded})
	return nil
}

// worst is the largest statement count among the bounded rows.
func (t *costs) worst() (string, float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	op, most := "", 0.0
	for _, r := range t.rows {
		if r.bounded && r.cost.statements > most {
			op, most = r.op, r.cost.statements
		}
	}
	return op, most
}

// section is the markdown table; inProcess says the CPU column includes
// the load generator's own work (-profile serves in-process).
func (t *costs) section(inProcess bool) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.rows) == 0 {
		return ""
	}
	var sb strings.Builder
	sb.WriteString("### Server cost per operation\n\n")
	sb.WriteString("Each row is the mean over its operations, run alone on an otherwise idle server: SQL statements (BEGIN and COMMIT included), round trips to PostgreSQL (one per statement with lib/pq's binary_parameters, which the server sets; a build without it prepares, then executes: two), and the server process's CPU time (`process_cpu_seconds_total`, 10 ms ticks spread over the operations).")
	if inProcess {
		sb.WriteString(" Served in-process (-profile): the CPU column includes the load generator's.")
	}
	fmt.Fprintf(&sb, "\n\n| operation | operations | statements | round trips | server CPU | goal |\n|---|---|---|---|---|---|\n")
	for _, r := range t.rows {
		g := ""
		if r.bounded {
			g = goal(fmt.Sprintf("≤ %d statements", statementGoal), r.cost.statements <= statementGoal)
		}
		fmt.Fprintf(&sb, "| %s | %d | %.1f | %.1f | %.2f ms | %s |\n", r.op, r.n, r.cost.statements, r.cost.roundTrips, r.cost.cpuSeconds*1000, g)
	}
	return sb.String()
}

// costPasses measures the money cycle one operation at a time: n cycles
// in lockstep, every cycle's first mutation, then every cycle's second,
// and so on, with the counters read between them. Then n reads.
func (b *bench) costPasses(ctx context.Context, m *market, n int) error {
	runs := make([]*cycleRun, n)
	steps := make([][]step, n)
	for i := range runs {
		runs[i] = &cycleRun{p: m.pairs[i%len(m.pairs)]}
		steps[i] = m.steps(ctx, runs[i])
	}
	// One worker per pair: a pair's cycles share its users' wallets, and
	// the cost of waiting on a lock is not the operation's own.
	workers := min(len(m.pairs), 4)
	for k, op := range cycleOps {
		if err := b.costs.measure(ctx, m.c, op, n, workers, slices.Contains(moneyOps, op), func(ctx context.Context, i int) error {
			return retry(ctx, steps[i][k].run)
		}); err != nil {
			return err
		}
	}
	return b.costs.measure(ctx, m.c, opWalletRead, n, workers, false, func(ctx context.Context, i int) error {
		p := m.pairs[i%len(m.pairs)]
		return m.c.do(ctx, p.customer.Token, "", readDoc, nil, nil)
	})
}
