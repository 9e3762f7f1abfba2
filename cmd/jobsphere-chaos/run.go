package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// defaultPostgresURL is the administrative connection used when
// TEST_DATABASE_URL is unset, as in the test suite.
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

type options struct {
	processes, clients, ops int
	killEvery               time.Duration
	short, keep, keepFailed bool
	seed                    uint64
	repo                    string
	timeout                 time.Duration
	stripeLatency           time.Duration
	eventDelay              time.Duration
	think                   time.Duration
	stripeKills             float64
}

func parseFlags(args []string, stdout io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.IntVar(&o.processes, "processes", 4, "number of jobsphere serve processes on the one database")
	fs.IntVar(&o.clients, "clients", 50, "concurrent GraphQL clients")
	fs.IntVar(&o.ops, "ops", 2000, "operations in all")
	fs.DurationVar(&o.killEvery, "kill-every", 5*time.Second, "SIGKILL (and restart) a random process this often")
	fs.BoolVar(&o.short, "short", false, "the short form: 2 processes, 10 clients, 200 ops, a kill every 2s (explicit flags win)")
	fs.BoolVar(&o.keep, "keep", false, "keep the database and the work directory (binary, server logs)")
	fs.BoolVar(&o.keepFailed, "keep-failed", true, "keep them when a check fails")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed (0: from the clock); the interleaving is not reproducible, the choices are")
	fs.StringVar(&o.repo, "repo", "", "the module's root (default: found from the working directory)")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up after this long")
	fs.DurationVar(&o.stripeLatency, "stripe-latency", 200*time.Millisecond, "the fake Stripe answers within this (half before its work, half after)")
	fs.DurationVar(&o.eventDelay, "event-delay", 1500*time.Millisecond, "each copy of an event is sent within this after the event")
	fs.Float64Var(&o.stripeKills, "stripe-kills", 0.2, "odds that Stripe, having made a transfer or refund, kills its caller before answering (a fifth of it for payments)")
	fs.DurationVar(&o.think, "think", 1500*time.Millisecond, "a client's mean pause between two operations")
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.short {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{"processes": "2", "clients": "10", "ops": "200", "kill-every": "2s", "stripe-latency": "100ms", "event-delay": "700ms", "think": "800ms"} {
			if !set[name] {
				_ = fs.Set(name, v)
			}
		}
	}
	if o.processes < 1 || o.clients < 1 || o.ops < 1 || o.killEvery <= 0 {
		return nil, errors.New("-processes, -clients, -ops and -kill-every must be positive")
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return o, nil
}

// run is the whole program; main only calls it, and so does the test.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	// Interrupted, it still stops its processes and drops its database.
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	began := time.Now()
	var outMu sync.Mutex
	logf := func(format string, a ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(stdout, "[%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, a...))
	}
	fmt.Fprintf(stdout, "jobsphere-chaos: %d processes, %d clients, %d operations, a SIGKILL every %s, seed %d\n",
		o.processes, o.clients, o.ops, o.killEvery, o.seed)

	work, err := os.MkdirTemp("", "jobsphere-chaos-")
	if err != nil {
		return err
	}
	keep := o.keep
	defer func() {
		if keep {
			fmt.Fprintf(stdout, "kept: %s (binary, server logs)\n", work)
			return
		}
		os.RemoveAll(work)
	}()

	root := o.repo
	if root == "" {
		if root, err = moduleRoot(); err != nil {
			return err
		}
	}
	bin := filepath.Join(work, "jobsphere")
	logf("building ./cmd/jobsphere")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/jobsphere")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/jobsphere: %v\n%s", err, out)
	}

	adminURL := getenv("TEST_DATABASE_URL")
	if adminURL == "" {
		adminURL = defaultPostgresURL
	}
	db, dbURL, drop, err := createDatabase(ctx, adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	defer func() {
		if keep {
			fmt.Fprintf(stdout, "kept database: %s\n", redact(dbURL))
			return
		}
		if err := drop(); err != nil {
			fmt.Fprintf(stdout, "drop database: %v\n", err)
		}
	}()
	logf("database %s", redact(dbURL))

	secret := randomHex(16)
	fake := newFakeStripe("sk_test_chaos_"+secret, "whsec_chaos_"+secret, "whsec_chaos_connect_"+secret, o.seed, o.stripeLatency)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fake.baseURL = "http://" + ln.Addr().String()
	stripeSrv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	defer stripeSrv.Close()

	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"APP_ENV=test", "DATABASE_URL=" + dbURL, "AUTO_MIGRATE=false", "JWT_SECRET=" + randomHex(32), "BCRYPT_COST=4",
		"ACCESS_TOKEN_TTL=2h", "OFFER_TTL=60s", "TRUSTED_PROXY_HOPS=1", "LOG_FORMAT=json", "LOG_LEVEL=info", "SHUTDOWN_TIMEOUT=10s",
		"STRIPE_SECRET_KEY=" + fake.secretKey, "STRIPE_PUBLISHABLE_KEY=pk_test_chaos",
		"STRIPE_WEBHOOK_SECRET=" + fake.webhookSecret, "STRIPE_CONNECT_WEBHOOK_SECRET=" + fake.connectSecret,
	}
	cl, err := newCluster(bin, work, env, o.processes, fake.baseURL)
	if err != nil {
		return err
	}
	defer cl.killAll()
	if out, err := cl.command(ctx, "migrate"); err != nil {
		return fmt.Errorf("jobsphere migrate: %v\n%s", err, out)
	}
	w := newWorld(cl, fake, fake.tag, o.ops)
	for i := range 2 {
		email := fmt.Sprintf("admin%d-%s@chaos.test", i, fake.tag)
		if out, err := cl.command(ctx, "admin", "create", "--email", email, "--password", password, "--name", "Chaos Admin"); err != nil {
			return fmt.Errorf("jobsphere admin create: %v\n%s", err, out)
		}
		w.admins = append(w.admins, &user{email: email, role: "ADMIN"})
	}
	logf("migrated; 2 admins; starting %d processes", o.processes)
	if err := cl.startAll(ctx); err != nil {
		return err
	}
	for i, p := range cl.procs {
		release, withdrawal := approvals(i)
		logf("process %d at %s: REQUIRE_RELEASE_APPROVAL=%v REQUIRE_WITHDRAWAL_APPROVAL=%v", i, p.url, release, withdrawal)
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	dl := newDeliverer(cl, fake.webhookSecret, fake.connectSecret, o.eventDelay, o.seed)
	fake.emit = func(ev *stripeEvent) { dl.enqueue(ctx, ev) }
	fake.killOdds = o.stripeKills
	fake.killCaller = func(i int) <-chan struct{} { return cl.killCaller(ctx, i, logf) }
	go func() { _ = stripeSrv.Serve(ln) }()

	ops := newActor(w, o.clients, o.seed, 0)
	for _, a := range w.admins {
		p, err := ops.login(ctx, a.email)
		if err != nil {
			return fmt.Errorf("admin login: %v", err)
		}
		a.id, a.token = p.User.ID, p.Tokens.AccessToken
	}

	// The chaos: clients, the killer, and progress lines.
	chaosRNG := mrand.New(mrand.NewPCG(o.seed, 3))
	var rngMu sync.Mutex
	intN := func(n int) int { rngMu.Lock(); defer rngMu.Unlock(); return chaosRNG.IntN(n) }
	killerDone := make(chan struct{})
	go func() { defer close(killerDone); cl.chaos(runCtx, o.killEvery, intN, logf) }()
	progressDone := make(chan struct{})
	go func() { defer close(progressDone); progress(runCtx, w, cl, dl, logf) }()
	aheadDone := make(chan struct{})
	var ahead sweepsAhead
	go func() { defer close(aheadDone); ahead.run(runCtx, cl, o.killEvery*3) }()
	fake.killing.Store(true)
	logf("%d clients start %d operations", o.clients, o.ops)
	var wg sync.WaitGroup
	for i := range o.clients {
		wg.Add(1)
		go func() { defer wg.Done(); newActor(w, i, o.seed, o.think).run(runCtx) }()
	}
	wg.Wait()
	fake.killing.Store(false)
	stopRun()
	<-killerDone
	<-progressDone
	<-aheadDone
	if ctx.Err() != nil {
		return fmt.Errorf("the run did not finish within -timeout %s", o.timeout)
	}
	if err := cl.ensureUp(ctx); err != nil {
		return err
	}
	logf("operations done; every process up again")
	fake.Finish(chaosRNG)
	// What the servers' minute sweeper would get to: payouts and card
	// refunds a kill interrupted after Stripe acted.
	// and, ahead of the clock, the dispute defaults and auto-releases.
	if out, err := cl.command(ctx, "sweep", "--grace", "0s", "--ahead", sweepLead); err != nil {
		return fmt.Errorf("jobsphere sweep: %w\n%s", err, out)
	}
	logf("open Checkout sessions expired, waiting 3-D Secure settled, interrupted payouts and refunds swept; delivering the last events")
	drained := dl.drain(2 * time.Minute)
	logf("deliveries done (%v); stopping every process with SIGTERM", drained)
	cl.stopAll()

	verifyOut, verifyErr := cl.command(ctx, "ledger", "verify")
	logf("checks")
	sn, err := load(ctx, db, fake)
	if err != nil {
		return fmt.Errorf("reading the results: %w", err)
	}
	r := &report{w: stdout}
	fmt.Fprintln(stdout, "\n== operations ==")
	done, lost := w.stats.print(stdout)
	printInfra(stdout, cl, dl, fake)
	fmt.Fprintln(stdout, "\n== checks ==")
	r.check("ledger verify", "exit 0: "+lastLine(verifyOut), problemsIf(verifyErr != nil, fmt.Sprintf("jobsphere ledger verify: %v\n%s", verifyErr, verifyOut)))
	sn.verify(r)
	r.check("processes", fmt.Sprintf("%d SIGKILLs by the timer and %d in Stripe calls, no crash, every SIGTERM exited 0", cl.kills, cl.targeted),
		append(cl.crashes, cl.stops...))
	r.check("webhook deliveries", fmt.Sprintf("%d copies delivered, %d attempts", dl.copies, dl.attempts),
		append(problemsIf(!drained, fmt.Sprintf("%d copies still undelivered", dl.remaining.Load())), dl.refused...))
	r.check("Stripe requests", fmt.Sprintf("%d requests, none malformed", sum(fake.calls)), fake.anomalies)
	r.check("sweeps ahead of the clock", fmt.Sprintf("%d runs of sweep --ahead %s during the run", ahead.runs, sweepLead), ahead.failures)
	r.check("operations", fmt.Sprintf("%d of %d performed, %d found no process up after every retry", done, o.ops, lost),
		problemsIf(done < o.ops, fmt.Sprintf("only %d of %d operations performed", done, o.ops)))
	printLogErrors(stdout, work, len(cl.procs))

	elapsed := time.Since(began).Round(100 * time.Millisecond)
	if r.violations > 0 {
		keep = keep || o.keepFailed
		fmt.Fprintf(stdout, "\nRESULT: %d violation(s) in %s (seed %d)\n", r.violations, elapsed, o.seed)
		return fmt.Errorf("%d violation(s)", r.violations)
	}
	fmt.Fprintf(stdout, "\nRESULT: OK in %s (seed %d)\n", elapsed, o.seed)
	return nil
}

func problemsIf(cond bool, problem string) []string {
	if cond {
		return []string{problem}
	}
	return nil
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// every calls fn every d (after fn's last call ended) until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
			fn()
		}
	}
}

func progress(ctx context.Context, w *world, cl *cluster, dl *deliverer, logf func(string, ...any)) {
	every(ctx, 5*time.Second, func() {
		cl.mu.Lock()
		kills := cl.kills + cl.targeted
		cl.mu.Unlock()
		dl.mu.Lock()
		copies := dl.copies
		dl.mu.Unlock()
		logf("operations %d/%d, SIGKILLs %d, event copies %d (%d in flight)",
			min(w.started.Load(), w.total), w.total, kills, copies, dl.remaining.Load())
	})
}

func printInfra(out io.Writer, cl *cluster, dl *deliverer, s *fakeStripe) {
	fmt.Fprintln(out, "\n== processes ==")
	for _, p := range cl.procs {
		release, withdrawal := approvals(p.idx)
		fmt.Fprintf(out, "process %d: started %d times (release approval %v, withdrawal approval %v)\n", p.idx, p.starts, release, withdrawal)
	}
	fmt.Fprintf(out, "%d SIGKILLs by the timer, %d of callers Stripe had just served, %d crashes, slowest start %s\n",
		cl.kills, cl.targeted, len(cl.crashes), cl.slowest.Round(time.Millisecond))

	fmt.Fprintln(out, "\n== fake Stripe ==")
	s.mu.Lock()
	states := map[string]int{}
	paid := 0
	for _, cs := range s.sessions {
		states[cs.Status]++
		if cs.Paid {
			paid++
		}
	}
	intents := map[string]int{}
	for _, pi := range s.intents {
		if !pi.ViaCheckout {
			intents[pi.Status]++
		}
	}
	accounts := map[string]int{}
	for _, a := range s.accounts {
		accounts[a.State]++
	}
	reversed := 0
	for _, t := range s.transfers {
		if t.Reversed {
			reversed++
		}
	}
	fmt.Fprintf(out, "Checkout sessions %d %v; PaymentIntents (deposits) %d %v, %d declined at confirmation\n",
		len(s.sessions), states, sum(intents), intents, s.declines)
	fmt.Fprintf(out, "refunds %d; accounts %d %v; transfers %d (%d reversed); customers %d; Financial Connections sessions %d\n",
		len(s.refunds), len(s.accounts), accounts, len(s.transfers), reversed, len(s.customers), s.fcSessions)
	fmt.Fprintf(out, "requests %v; idempotent replays %d; refusals %v; events %d\n", s.calls, s.replays, s.refusals, len(s.events))
	for _, m := range s.mismatches {
		fmt.Fprintf(out, "idempotency key reused with other parameters (refused): %s\n", m)
	}
	s.mu.Unlock()

	fmt.Fprintln(out, "\n== webhooks ==")
	dl.mu.Lock()
	fmt.Fprintf(out, "%d copies of %d events; %d attempts: HTTP statuses %v, %d connection errors (killed processes)\n",
		dl.copies, dl.copies/copiesPerEvent, dl.attempts, dl.byStatus, dl.netErrors)
	dl.mu.Unlock()
}

// printLogErrors summarises the servers' ERROR log lines: not violations
// by themselves (a killed process makes some), but where to look.
func printLogErrors(out io.Writer, dir string, n int) {
	counts := map[string]int{}
	for i := range n {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("serve-%d.log", i)))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			var e struct {
				Level, Msg, Err, Error, Method, Path string
				Status                               int
			}
			if json.Unmarshal(line, &e) != nil {
				if strings.Contains(string(line), "panic") {
					counts["(not JSON) "+truncate(string(line), 160)]++
				}
				continue
			}
			if e.Level != "ERROR" {
				continue
			}
			what := e.Err + e.Error
			if what == "" {
				what = fmt.Sprintf("%s %s %d", e.Method, e.Path, e.Status)
			}
			counts[truncate(e.Msg+": "+what, 200)]++
		}
		f.Close()
	}
	if len(counts) == 0 {
		fmt.Fprintln(out, "\nserver logs: no ERROR lines")
		return
	}
	fmt.Fprintln(out, "\nserver log ERROR lines (not violations by themselves; where to look):")
	for _, l := range topN(counts, 15) {
		fmt.Fprintln(out, "  ", l)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// moduleRoot is the directory of the jobsphere module's go.mod, found from
// the working directory upwards.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/jobsphere/jobsphere\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the jobsphere module; pass -repo")
		}
		dir = parent
	}
}

// createDatabase makes a fresh database on the server of adminURL.
func createDatabase(ctx context.Context, adminURL string) (*sql.DB, string, func() error, error) {
	admin, err := sql.Open("postgres", adminURL)
	if err != nil {
		return nil, "", nil, err
	}
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		return nil, "", nil, fmt.Errorf("PostgreSQL is not reachable at %s (set TEST_DATABASE_URL): %w", redact(adminURL), err)
	}
	name := "jobsphere_chaos_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return nil, "", nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		admin.Close()
		return nil, "", nil, err
	}
	u.Path = "/" + name
	db, err := sql.Open("postgres", u.String())
	if err != nil {
		admin.Close()
		return nil, "", nil, err
	}
	drop := func() error {
		defer admin.Close()
		db.Close()
		_, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		return err
	}
	return db, u.String(), drop, nil
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// sweepLead is how far ahead of the clock the run's sweeps look: past
// DISPUTE_RESPONSE_DAYS (5) and AUTO_RELEASE_DAYS (14), so unanswered
// disputes are settled by default and deliveries auto-released.
const sweepLead = "360h"

// sweepsAhead runs `jobsphere sweep --ahead` every so often while the
// clients work, so the sweeper's defaults race the parties' own moves; a
// sweep that fails is a violation.
type sweepsAhead struct {
	runs     int
	failures []string
}

func (s *sweepsAhead) run(ctx context.Context, cl *cluster, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			out, err := cl.command(ctx, "sweep", "--ahead", sweepLead)
			if ctx.Err() != nil {
				return
			}
			s.runs++
			if err != nil {
				s.failures = append(s.failures, fmt.Sprintf("sweep --ahead %s: %v\n%s", sweepLead, err, out))
			}
		}
	}
}
