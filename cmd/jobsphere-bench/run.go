package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// options are the command line.
type options struct {
	quick        bool
	clients      int
	duration     time.Duration
	subscribers  int
	fanoutEvents int
	fanoutRate   float64
	events       int
	// exportTransactions is the history the export phase downloads.
	exportTransactions int
	// costOps is how many of each operation the cost pass runs alone.
	costOps      int
	only         map[string]bool
	pgbenchScale int
	pgbenchPath  string
	bin          string
	baseline     string
	profileDir   string
	coldStarts   int
	keep         bool
	quiet        float64
	quietWait    time.Duration
	serverEnv    map[string]string
	databaseURL  string
	// broker is the fan-out phase's realtime broker (see brokers); natsURL
	// the NATS server for "nats".
	broker, natsURL string
	progress        io.Writer
	onlyRequested   string
}

// brokers are the realtime brokers the fan-out phase can run with, and
// what each is.
var brokers = map[string]string{
	"postgres": "PostgreSQL LISTEN/NOTIFY",
	"nats":     "NATS (NATS_URL)",
	"memory":   "in-process (the server on SQLite, its embedded mode)",
}

// The phases, in the order they run. money runs pgbench too, for the
// ratio; -only pgbench runs it alone.
var phases = []string{"money", "reads", "pgbench", "fanout", "webhooks", "export", "coldstart"}

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{progress: stderr}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "tiny sizes (a few operations per phase) for tests and CI")
	fs.IntVar(&o.clients, "clients", 32, "concurrent clients for money mutations and reads (pgbench -c too)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long the money, reads and pgbench phases each run")
	fs.IntVar(&o.subscribers, "subscribers", 10000, "websocket subscribers, one user each, on one server")
	fs.IntVar(&o.fanoutEvents, "fanout-events", 1000, "deposit webhooks sent to as many subscribers during fan-out")
	fs.Float64Var(&o.fanoutRate, "fanout-rate", 200, "fan-out webhooks per second (0: as fast as they go)")
	fs.StringVar(&o.broker, "broker", "postgres", "the fan-out phase's realtime broker: postgres (LISTEN/NOTIFY), nats (NATS_URL: $BENCH_NATS_URL, else $TEST_NATS_URL, else "+defaultNATSURL+") or memory (in-process: that server on SQLite); other phases use -env NATS_URL=…")
	fs.IntVar(&o.events, "events", 5000, "distinct webhook events for the ingestion phase (then each again as a duplicate)")
	fs.IntVar(&o.exportTransactions, "export-transactions", 300_000, "transactions in the history the export phase downloads as CSV (GET /api/statements.csv)")
	fs.IntVar(&o.costOps, "cost-ops", 100, "operations of each kind run alone to measure the server's statements, round trips and CPU per operation")
	fs.StringVar(&o.onlyRequested, "only", "", "comma-separated phases to run: "+strings.Join(phases, ",")+" (money runs pgbench too, for the ratio)")
	fs.IntVar(&o.pgbenchScale, "pgbench-scale", 1, "pgbench -i scale factor")
	fs.StringVar(&o.pgbenchPath, "pgbench", "", "pgbench binary (default: from PATH, else /usr/bin/pgbench)")
	fs.StringVar(&o.bin, "bin", "", "a jobsphere binary to use instead of building ./cmd/jobsphere")
	fs.StringVar(&o.baseline, "baseline", "", "a jobsphere binary (an earlier build) to run every phase against first, in the same run: the report ends with an A/B table of both")
	fs.StringVar(&o.profileDir, "profile", "", "serve money, reads, webhooks and fanout in-process and write CPU (money, reads, webhooks) and heap (fanout) profiles and their top 20 to this directory; with fanout, keep -subscribers under half the open-file limit (both ends of every socket are then in this process)")
	fs.IntVar(&o.coldStarts, "coldstarts", 5, "cold starts measured per configuration")
	fs.BoolVar(&o.keep, "keep", false, "keep the databases and the work directory (logs) for inspection")
	o.serverEnv = map[string]string{}
	fs.Func("env", "KEY=VALUE for the servers' environment, over the bench's settings (repeatable), e.g. -env DB_MAX_OPEN_CONNS=32", func(kv string) error {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", kv)
		}
		o.serverEnv[k] = v
		return nil
	})
	fs.Float64Var(&o.quiet, "quiet", 0, "on a shared machine: before each measurement wait until other processes use at most this many CPUs (0: don't wait)")
	fs.DurationVar(&o.quietWait, "quiet-wait", 5*time.Minute, "the longest -quiet waits before measuring anyway")
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		// Tiny sizes unless given explicitly.
		quick := map[string]func(){
			"clients":             func() { o.clients = 2 },
			"duration":            func() { o.duration = time.Second },
			"subscribers":         func() { o.subscribers = 8 },
			"fanout-events":       func() { o.fanoutEvents = 4 },
			"fanout-rate":         func() { o.fanoutRate = 0 },
			"events":              func() { o.events = 10 },
			"export-transactions": func() { o.exportTransactions = 1000 },
			"cost-ops":            func() { o.costOps = 4 },
			"coldstarts":          func() { o.coldStarts = 1 },
		}
		for name, apply := range quick {
			if !set[name] {
				apply()
			}
		}
	}
	o.only = map[string]bool{}
	if o.onlyRequested == "" {
		for _, p := range phases {
			o.only[p] = true
		}
	}
	for _, p := range strings.Split(o.onlyRequested, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !slices.Contains(phases, p) {
			return nil, fmt.Errorf("-only: unknown phase %q (phases: %s)", p, strings.Join(phases, ", "))
		}
		o.only[p] = true
	}
	switch {
	case o.clients < 1:
		return nil, errors.New("-clients must be at least 1")
	case o.duration < 100*time.Millisecond:
		return nil, errors.New("-duration must be at least 100ms")
	case o.subscribers < 1:
		return nil, errors.New("-subscribers must be at least 1")
	case o.fanoutEvents < 1:
		return nil, errors.New("-fanout-events must be at least 1")
	case o.events < 1:
		return nil, errors.New("-events must be at least 1")
	case o.exportTransactions < 1:
		return nil, errors.New("-export-transactions must be at least 1")
	case o.coldStarts < 1:
		return nil, errors.New("-coldstarts must be at least 1")
	case o.baseline != "" && o.profileDir != "":
		return nil, errors.New("-profile serves this build in-process: it cannot profile a -baseline too")
	case brokers[o.broker] == "":
		return nil, fmt.Errorf("-broker: unknown broker %q (brokers: memory, nats, postgres)", o.broker)
	}
	o.fanoutEvents = min(o.fanoutEvents, o.subscribers)
	o.databaseURL = firstNonEmpty(getenv("BENCH_DATABASE_URL"), getenv("TEST_DATABASE_URL"), defaultDatabaseURL)
	o.natsURL = firstNonEmpty(getenv("BENCH_NATS_URL"), getenv("TEST_NATS_URL"), defaultNATSURL)
	return o, nil
}

// defaultDatabaseURL is the PostgreSQL the bench uses when the environment
// names none (the test suite's default).
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// defaultNATSURL is the NATS server of -broker nats when the environment
// names none (the test suite's default).
const defaultNATSURL = "nats://127.0.0.1:4222"

// firstNonEmpty returns the first non-empty string.
func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// exitCode reports a failure on stderr.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "jobsphere-bench:", err)
	return 1
}

// run is the whole program; main only calls it, so tests can too.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parseOptions(args, getenv, os.Stderr)
	if err != nil {
		return err
	}
	b, err := newBench(ctx, o, getenv)
	if err != nil {
		return err
	}
	defer b.close()

	// With -baseline, every phase runs for the baseline build first, then
	// for this one, in the same run on the same machine (an A/B).
	builds := []build{{"this build", b.bin}}
	if o.baseline != "" {
		builds = append([]build{{"baseline " + o.baseline, o.baseline}}, builds...)
	}
	var failed []string
	reports := make([]*report, len(builds))
	runID := b.runID
	for i, bld := range builds {
		b.bin, b.costs = bld.bin, &costs{}
		if len(builds) > 1 {
			b.runID = fmt.Sprintf("%s%d", runID, i) // databases and users of their own
			b.logf("=== %s", bld.name)
		}
		rep := &report{machine: b.machine(ctx), command: strings.Join(args, " "), build: bld.name}
		f, err := b.runPhases(ctx, rep)
		if err != nil {
			return err
		}
		failed = append(failed, f...)
		reports[i] = rep
	}
	for _, rep := range reports {
		rep.print(stdout)
		fmt.Fprintln(stdout)
	}
	if len(reports) == 2 {
		printAB(stdout, reports[0], reports[1])
	}
	if len(failed) > 0 {
		return fmt.Errorf("phases failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// build is a server binary the phases run against.
type build struct{ name, bin string }

// runPhases runs the chosen phases against b.bin into rep, and returns the
// phases that failed.
func (b *bench) runPhases(ctx context.Context, rep *report) ([]string, error) {
	o := b.opts
	var failed []string
	for _, p := range []struct {
		name string
		fn   func(context.Context, *report) error
	}{
		{"money", b.marketPhases}, // money and reads share a server
		{"pgbench", b.pgbenchPhase},
		{"fanout", b.fanoutPhase},
		{"webhooks", b.webhookPhase},
		{"export", b.exportPhase},
		{"coldstart", b.coldStartPhase},
	} {
		switch {
		case p.name == "money" && !o.only["money"] && !o.only["reads"],
			p.name == "pgbench" && (!o.only["pgbench"] || o.only["money"]),
			p.name != "money" && p.name != "pgbench" && !o.only[p.name]:
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b.logf("== %s", p.name)
		if err := p.fn(ctx, rep); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			b.logf("%s failed: %v", p.name, err)
			rep.add(p.name, "FAILED", err.Error(), "")
			failed = append(failed, p.name)
		}
	}
	if op, most := b.costs.worst(); op != "" {
		rep.add("cost", "statements per money mutation or crediting webhook, most (BEGIN and COMMIT included)", fmt.Sprintf("%.1f (%s)", most, op), goal(fmt.Sprintf("≤ %d", statementGoal), most <= statementGoal))
	}
	rep.costs = b.costs
	rep.section(b.costs.section(o.profileDir != ""))
	return failed, nil
}

// machine describes where the bench ran.
func (b *bench) machine(ctx context.Context) []string {
	mem := "?"
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(raw)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
				mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	kernel := "?"
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(raw))
	}
	var pg string
	if err := b.admin.QueryRowContext(ctx, "SHOW server_version").Scan(&pg); err != nil {
		pg = "? (" + err.Error() + ")"
	}
	return []string{
		fmt.Sprintf("CPUs: %d (GOMAXPROCS %d), memory: %s, kernel: %s, %s/%s", runtime.NumCPU(), runtime.GOMAXPROCS(0), mem, kernel, runtime.GOOS, runtime.GOARCH),
		fmt.Sprintf("PostgreSQL %s at %s; %s", pg, redact(b.opts.databaseURL), runtime.Version()),
	}
}
