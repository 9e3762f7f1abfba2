package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// The money cycle's operations, in order. createJob, applyToJob and
// updateJobStatus prepare; the other four move money.
const (
	opCreateJob  = "createJob"
	opApply      = "applyToJob"
	opSendOffer  = "sendOffer"
	opAccept     = "acceptOffer"
	opStart      = "updateJobStatus"
	opComplete   = "completeJob"
	opApprove    = "approveFundRelease"
	opWalletRead = "wallet + transactions(first: 20)"
)

var (
	cycleOps = []string{opCreateJob, opApply, opSendOffer, opAccept, opStart, opComplete, opApprove}
	moneyOps = []string{opSendOffer, opAccept, opComplete, opApprove}
)

// The documents, with selections like the apps' (client/operations).
const (
	createJobDoc = `mutation($in: CreateJobInput!) { createJob(input: $in) { id title budget status createdAt postedBy { id name } } }`
	applyDoc     = `mutation($in: ApplyToJobInput!) { applyToJob(input: $in) { id status createdAt job { id status } } }`
	sendOfferDoc = `mutation($in: SendOfferInput!) { sendOffer(input: $in) {
  offer { id status amount totalCharge expiresAt }
  wallet { balance escrowBalance }
  amounts { jobBudget platformFee serviceFee contractorPayout totalCharge adminTotal } } }`
	acceptDoc = `mutation($id: ID!) { acceptOffer(offerId: $id) {
  offer { id status acceptedAt } job { id status assignedAt }
  contract { id status escrow { id status amount fundingSource } } } }`
	startDoc    = `mutation($id: ID!) { updateJobStatus(id: $id, status: IN_PROGRESS) { id status } }`
	completeDoc = `mutation($id: ID!) { completeJob(jobId: $id) { awaitingApproval job { id status } escrow { id status releaseRequestedAt } payment { serviceFee contractorPayout } } }`
	approveDoc  = `mutation($id: ID!) { approveFundRelease(contractId: $id) { id status releasedAt freelancerEarning contract { id status } } }`
	readDoc     = `query { wallet { id balance escrowBalance pendingDeposits totalEarnings totalSpent totalWithdrawals isFrozen updatedAt }
  transactions(first: 20) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id type status amount currency description createdAt job { id title } } } } }`
)

// pair is one client's customer and contractor.
type pair struct {
	customer, contractor user
	jobs                 int
}

// market is a server set up for the money cycle: an admin and funded
// customer+contractor pairs.
type market struct {
	c     *client
	admin user
	pairs []*pair
}

// cycleRun is one job on its way through the money cycle: what each step
// leaves for the next.
type cycleRun struct {
	p                                         *pair
	jobID, applicationID, offerID, contractID string
}

// step is one mutation of the cycle.
type step struct {
	op  string
	run func() error
}

// steps are r's mutations in the cycle's order (cycleOps); each needs the
// ones before it to have succeeded.
func (m *market) steps(ctx context.Context, r *cycleRun) []step {
	cust, cont := r.p.customer.Token, r.p.contractor.Token
	return []step{
		{opCreateJob, func() error {
			r.p.jobs++
			var out struct{ CreateJob struct{ ID string } }
			err := m.c.do(ctx, cust, "", createJobDoc, map[string]any{"in": map[string]any{
				"title": fmt.Sprintf("Bench job %d", r.p.jobs), "description": "A job posted by the load generator",
				"budget": "10.00", "category": "Bench", "location": "Loopback"}}, &out)
			r.jobID = out.CreateJob.ID
			return err
		}},
		{opApply, func() error {
			var out struct{ ApplyToJob struct{ ID string } }
			err := m.c.do(ctx, cont, "", applyDoc, map[string]any{"in": map[string]any{
				"jobId": r.jobID, "coverLetter": "I can do it", "proposedAmount": "10.00"}}, &out)
			r.applicationID = out.ApplyToJob.ID
			return err
		}},
		{opSendOffer, func() error {
			var out struct {
				SendOffer struct{ Offer struct{ ID string } }
			}
			err := m.c.do(ctx, cust, "", sendOfferDoc, map[string]any{"in": map[string]any{
				"applicationId": r.applicationID, "amount": "10.00", "timeline": "1 day", "description": "Do the bench job, please"}}, &out)
			r.offerID = out.SendOffer.Offer.ID
			return err
		}},
		{opAccept, func() error {
			var out struct {
				AcceptOffer struct{ Contract struct{ ID string } }
			}
			err := m.c.do(ctx, cont, "", acceptDoc, map[string]any{"id": r.offerID}, &out)
			r.contractID = out.AcceptOffer.Contract.ID
			return err
		}},
		{opStart, func() error {
			return m.c.do(ctx, cont, "", startDoc, map[string]any{"id": r.jobID}, nil)
		}},
		{opComplete, func() error {
			return m.c.do(ctx, cust, "", completeDoc, map[string]any{"id": r.jobID}, nil)
		}},
		{opApprove, func() error {
			return m.c.do(ctx, m.admin.Token, "", approveDoc, map[string]any{"id": r.contractID}, nil)
		}},
	}
}

// cycle runs one job from posting to the admin's approval, timing every
// mutation; a failed step ends the cycle.
func (m *market) cycle(ctx context.Context, p *pair, rec *recorder) error {
	for _, s := range m.steps(ctx, &cycleRun{p: p}) {
		if err := rec.time(s.op, s.run); err != nil {
			return err
		}
	}
	return nil
}

// setupMarket signs up the admin and n funded pairs.
func (b *bench) setupMarket(ctx context.Context, t *target, n int) (*market, error) {
	m := &market{c: newClient(t.url, n)}
	email := fmt.Sprintf("bench-%s-admin@example.test", b.runID)
	if err := b.createAdmin(ctx, t, email, benchPassword); err != nil {
		return nil, fmt.Errorf("admin create: %w", err)
	}
	var err error
	if m.admin, err = m.c.login(ctx, email, benchPassword); err != nil {
		return nil, fmt.Errorf("admin login: %w", err)
	}
	m.pairs = make([]*pair, n)
	err = forEach(ctx, n, min(n, 16), func(ctx context.Context, i int) error {
		p := &pair{}
		m.pairs[i] = p
		for _, step := range []func() error{
			func() (err error) { p.customer, err = m.c.register(ctx, b.runID, "CUSTOMER", i); return err },
			func() (err error) { p.contractor, err = m.c.register(ctx, b.runID, "CONTRACTOR", i); return err },
			func() error { return m.c.fund(ctx, p.customer, 100_000_00, b.webhookSecret) }, // $100,000: thousands of $10.50 cycles
		} {
			if err := retry(ctx, step); err != nil {
				return err
			}
		}
		return nil
	})
	return m, err
}

// marketPhases runs money mutations, reads and pgbench on one server.
func (b *bench) marketPhases(ctx context.Context, rep *report) error {
	o := b.opts
	t, err := b.phaseServer(ctx, "market", true) // in-process when profiling
	if err != nil {
		return err
	}
	defer t.stop()
	b.logf("signing up an admin and %d funded customer+contractor pairs", o.clients)
	m, err := b.setupMarket(ctx, t, o.clients)
	if err != nil {
		return err
	}
	defer m.c.close()

	if o.only["money"] {
		if err := b.moneyPhase(ctx, rep, t, m); err != nil {
			return err
		}
	}
	if o.only["reads"] {
		if err := b.readsPhase(ctx, rep, m); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) moneyPhase(ctx context.Context, rep *report, t *target, m *market) error {
	o := b.opts
	// One unmeasured cycle per client warms connections and caches.
	if err := forEach(ctx, len(m.pairs), len(m.pairs), func(ctx context.Context, i int) error {
		return m.cycle(ctx, m.pairs[i], newRecorder())
	}); err != nil {
		return fmt.Errorf("warm-up cycle: %w", err)
	}
	b.logf("money: the cost of each operation, %d of each run alone", o.costOps)
	b.waitQuiet(ctx)
	if err := b.costPasses(ctx, m, o.costOps); err != nil {
		return fmt.Errorf("cost pass: %w", err)
	}
	b.logf("money: %d clients for %s", o.clients, o.duration)
	stopProfile, err := b.startProfile("money")
	if err != nil {
		return err
	}
	b.waitQuiet(ctx)
	stopWaits := b.sampleWaits(ctx, t.env["DATABASE_URL"], "money")
	stopCPU := b.cpuWindow()
	before, err := m.c.cost(ctx)
	if err != nil {
		return err
	}
	rec, elapsed := loopFor(ctx, o.clients, o.duration, func(ctx context.Context, w int, rec *recorder) {
		_ = m.cycle(ctx, m.pairs[w], rec) // errors are counted by the recorder
	})
	after, err := m.c.cost(ctx)
	if err != nil {
		return err
	}
	cpu := stopCPU()
	waits := stopWaits()
	top, err := stopProfile()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cycles := rec.count(opApprove)
	muts, money := rec.count(cycleOps...), rec.count(moneyOps...)
	mutRate, moneyRate := rate(muts, elapsed), rate(money, elapsed)
	rep.add("money", "clients × duration", fmt.Sprintf("%d × %s (each cycle: %d mutations, %s)", o.clients, elapsed.Round(time.Millisecond), len(cycleOps), "createJob → applyToJob → sendOffer → acceptOffer → updateJobStatus → completeJob → approveFundRelease"), "")
	rep.add("money", "cycles/s", fmt.Sprintf("%.1f (%d cycles)", rate(cycles, elapsed), cycles), "")
	rep.add("money", "mutations/s (all 7 of the cycle)", fmt.Sprintf("%.1f", mutRate), "")
	rep.add("money", "money mutations/s (sendOffer, acceptOffer, completeJob, approveFundRelease)", fmt.Sprintf("%.1f", moneyRate), "")
	rep.add("money", "mutation latency p50 / p99 (all 7)", p50p99(rec.all(cycleOps...)), "")
	rep.add("money", "money mutation latency p50 / p99", p50p99(rec.all(moneyOps...)), "")
	load := after.perOperation(before, muts)
	rep.add("money", "per mutation under load: statements, round trips, server CPU", fmt.Sprintf("%.1f, %.1f, %.2f ms", load.statements, load.roundTrips, load.cpuSeconds*1000), "")
	rep.add("money", "errors", rec.errorSummary(), goal("0", rec.errorCount() == 0))
	rep.add("money", "CPU meanwhile; \"others\" are not this run's", cpu, "")
	rep.section(rec.table("Money cycle: latency per mutation", elapsed, cycleOps))
	for _, s := range []string{waits, top} {
		if s != "" {
			rep.section(s)
		}
	}
	if err := b.ledgerVerify(ctx, t); err != nil {
		rep.add("money", "ledger verify after the run", "FAILED: "+err.Error(), goal("OK", false))
	} else {
		rep.add("money", "ledger verify after the run", "OK", goal("OK", true))
	}

	pg, err := b.pgbench(ctx)
	switch {
	case err != nil:
		rep.add("money", "pgbench", "not run: "+err.Error(), "")
	default:
		rep.add("money", "pgbench TPS ("+pg.detail+")", fmt.Sprintf("%.1f", pg.tps), "")
		rep.add("money", "pgbench: CPU meanwhile", pg.cpu, "")
		rep.add("money", "mutations/s ÷ pgbench TPS", fmt.Sprintf("%.3f", mutRate/pg.tps), goal("≥ 0.6", mutRate/pg.tps >= 0.6))
		rep.add("money", "money mutations/s ÷ pgbench TPS", fmt.Sprintf("%.3f", moneyRate/pg.tps), "")
	}
	return nil
}

// readsPhase: each client reads its customer's wallet and first page of
// history in one query.
func (b *bench) readsPhase(ctx context.Context, rep *report, m *market) error {
	o := b.opts
	if !o.only["money"] {
		// A history to read, a full page of it: each cycle posts at least
		// one transaction on either side (the escrow, the payout).
		cycles := 20
		if o.quick {
			cycles = 2
		}
		if err := forEach(ctx, len(m.pairs), len(m.pairs), func(ctx context.Context, i int) error {
			for range cycles {
				if err := m.cycle(ctx, m.pairs[i], newRecorder()); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("history for reads: %w", err)
		}
	}
	b.logf("reads: %d clients for %s", o.clients, o.duration)
	b.waitQuiet(ctx)
	stopProfile, err := b.startProfile("reads")
	if err != nil {
		return err
	}
	stopCPU := b.cpuWindow()
	before, err := m.c.cost(ctx)
	if err != nil {
		return err
	}
	rec, elapsed := loopFor(ctx, o.clients, o.duration, func(ctx context.Context, w int, rec *recorder) {
		u := m.pairs[w].customer
		if w%2 == 1 {
			u = m.pairs[w].contractor
		}
		_ = rec.time(opWalletRead, func() error { return m.c.do(ctx, u.Token, "", readDoc, nil, nil) })
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	cpu := stopCPU()
	top, err := stopProfile()
	if err != nil {
		return err
	}
	if top != "" {
		rep.section(top)
	}
	after, err := m.c.cost(ctx)
	if err != nil {
		return err
	}
	l := rec.all(opWalletRead)
	perRead := after.perOperation(before, len(l)).cpuSeconds
	rep.add("reads", "wallet + first 20 transactions, one query: reads/s", fmt.Sprintf("%.1f (%d clients × %s)", rate(len(l), elapsed), o.clients, elapsed.Round(time.Millisecond)), "≥ 3× today's (-baseline)")
	rep.add("reads", "server CPU per read, under load", fmt.Sprintf("%.2f ms", perRead*1000), goal("≤ 0.8 ms", perRead <= 0.0008))
	rep.add("reads", "read latency p50 / p99", p50p99(l), "")
	rep.add("reads", "errors", rec.errorSummary(), goal("0", rec.errorCount() == 0))
	rep.add("reads", "CPU meanwhile; \"others\" are not this run's", cpu, "")
	return nil
}

// pgbenchPhase is pgbench alone (-only pgbench).
func (b *bench) pgbenchPhase(ctx context.Context, rep *report) error {
	pg, err := b.pgbench(ctx)
	if err != nil {
		return err
	}
	rep.add("pgbench", "TPS ("+pg.detail+")", fmt.Sprintf("%.1f", pg.tps), "")
	rep.add("pgbench", "CPU meanwhile", pg.cpu, "")
	return nil
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench runs TPC-B on a fresh database of the same PostgreSQL: -i at
// -pgbench-scale, then -c clients -j 2 for the phase's duration.
// pgbenchResult is one pgbench run.
type pgbenchResult struct {
	tps         float64
	detail, cpu string // the command's settings; where the CPU went meanwhile
}

func (b *bench) pgbench(ctx context.Context) (pgbenchResult, error) {
	o := b.opts
	path := o.pgbenchPath
	if path == "" {
		var err error
		if path, err = exec.LookPath("pgbench"); err != nil {
			path = "/usr/bin/pgbench"
		}
	}
	if _, err := os.Stat(path); err != nil {
		return pgbenchResult{}, fmt.Errorf("pgbench not found: %w", err)
	}
	dbURL, err := b.createDatabase(ctx, "pgbench")
	if err != nil {
		return pgbenchResult{}, err
	}
	b.logf("pgbench: init at scale %d", o.pgbenchScale)
	if _, err := b.command(ctx, "", path, "-i", "-q", "-s", strconv.Itoa(o.pgbenchScale), dbURL); err != nil {
		return pgbenchResult{}, err
	}
	secs := max(1, int(math.Round(o.duration.Seconds())))
	jobs := min(2, o.clients)
	b.logf("pgbench: -c %d -j %d -T %d", o.clients, jobs, secs)
	b.waitQuiet(ctx)
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		out, err := b.command(ctx, "", path, "-c", strconv.Itoa(o.clients), "-j", strconv.Itoa(jobs), "-T", strconv.Itoa(secs), dbURL)
		done <- result{out, err}
	}()
	// CPU use is sampled inside the run, while pgbench's connections live
	// (a backend that has exited can no longer be told from others').
	run := time.Duration(secs) * time.Second
	time.Sleep(run / 10)
	stopCPU := b.cpuWindow()
	time.Sleep(time.Until(start.Add(run * 9 / 10)))
	cpu := stopCPU()
	r := <-done
	if r.err != nil {
		return pgbenchResult{}, r.err
	}
	out := r.out
	match := tpsLine.FindStringSubmatch(out)
	if match == nil {
		return pgbenchResult{}, errors.New("no tps line in pgbench's output:\n" + out)
	}
	tps, err := strconv.ParseFloat(match[1], 64)
	if err != nil || tps <= 0 {
		return pgbenchResult{}, fmt.Errorf("pgbench tps %q", match[1])
	}
	return pgbenchResult{tps, fmt.Sprintf("TPC-B, scale %d, -c %d -j %d -T %d", o.pgbenchScale, o.clients, jobs, secs), cpu}, nil
}
