package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/jobsphere/jobsphere/app"
	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/server"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// env is what a command runs with: the process's environment and output.
type env struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// load reads the configuration and makes the logger, which writes to stdout.
func (e env) load() (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return nil, nil, err
	}
	return cfg, newLogger(cfg, e.stdout), nil
}

// open loads the configuration and opens the system it describes; the
// caller closes it.
func (e env) open(ctx context.Context) (*app.App, error) {
	cfg, logger, err := e.load()
	if err != nil {
		return nil, err
	}
	return app.Open(ctx, cfg, logger)
}

// setting returns e with the variable name read as value: a flag that
// stands for a variable, so the configuration checks it as its own.
func (e env) setting(name, value string) env {
	getenv := e.getenv
	e.getenv = func(k string) string {
		if k == name {
			return value
		}
		return getenv(k)
	}
	return e
}

// action is what a command does once its flags have parsed.
type action func(ctx context.Context, e env) error

// withConfig defines a command without flags that runs f with the
// configuration.
func withConfig(f func(context.Context, *config.Config, *slog.Logger, io.Writer) error) func(*flag.FlagSet) action {
	return func(*flag.FlagSet) action {
		return func(ctx context.Context, e env) error {
			cfg, logger, err := e.load()
			if err != nil {
				return err
			}
			return f(ctx, cfg, logger, e.stdout)
		}
	}
}

// command is one subcommand of jobsphere.
type command struct {
	name     string // as typed, one or two words: "serve", "ledger verify"
	synopsis string // what follows the name in its usage line
	summary  string // its line in jobsphere's list
	// configured: it reads the configuration from the environment.
	configured bool
	// define defines the command's flags on fs and returns what runs it.
	define func(fs *flag.FlagSet) action
}

// commands are jobsphere's subcommands, in the order its usage lists them.
var commands = []command{
	{name: "serve", synopsis: "[--port N] [--foreground]", summary: "run the API server (GraphiQL at /, GraphQL at /graphql)", configured: true, define: serveCommand},
	{name: "migrate", summary: "bring the database schema up to date", configured: true, define: withConfig(migrate)},
	{name: "admin create", synopsis: "--email E --password P [--name N]", summary: "create an admin account (admins cannot self-register)", configured: true, define: adminCreateCommand},
	{name: "seed", summary: "demo accounts, a funded wallet, jobs in every state (refused in production; runs once)", configured: true, define: withConfig(seed)},
	{name: "ledger verify", summary: "recompute every balance from the postings; exit 1 on any mismatch", configured: true, define: withConfig(ledgerVerify)},
	{name: "reconcile", synopsis: "[--since DATE]", summary: "match Stripe's balance transactions since DATE with the ledger and compare the balances; exit 1 on any mismatch", configured: true, define: reconcileCommand},
	{name: "sweep", synopsis: "[--grace 1m] [--ahead 0s]", summary: "expire overdue offers, finish interrupted payouts and card refunds, auto-release delivered jobs (servers do it every minute)", configured: true, define: sweepCommand},
	{name: "schema", summary: "print the GraphQL schema (SDL), as committed in schema.graphql", define: schemaCommand},
	{name: "version", summary: "print the version", define: versionCommand},
}

// usageError is a command line refused before anything ran; what was
// wrong and the usage have been printed. Its exit status is 2, as with
// flag.ExitOnError.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// exitStatus is the process's exit status for what run returned.
func exitStatus(err error) int {
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &usage):
		return 2
	}
	return 1
}

func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// run is the whole program; main only calls it, so tests can too. Every
// command parses its own flags before anything else: -h prints its usage
// and does nothing more, and a bad command line is refused (usageError)
// before the configuration is read.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	words := args[1:]
	if len(words) == 0 {
		printUsage(stderr, "")
		return usageError{errors.New("no command given")}
	}
	if isHelp(words[0]) || words[0] == "help" {
		if len(words) > 1 && words[0] == "help" { // help <command>: its -h
			again := append([]string{args[0]}, words[1:]...)
			return run(ctx, append(again, "-h"), getenv, stdout, stderr)
		}
		printUsage(stdout, "")
		return nil
	}
	c, rest, ok := findCommand(words)
	if !ok {
		return refuseCommand(words, stdout, stderr)
	}
	fs := flag.NewFlagSet("jobsphere "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	act := c.define(fs)
	fs.Usage = func() { c.printUsage(fs) }
	if err := fs.Parse(rest); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return usageError{err} // the flag package has printed it, and the usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return usageError{fmt.Errorf("%s: unexpected argument %q", c.name, fs.Arg(0))}
	}
	err := act(ctx, env{getenv: getenv, stdout: stdout, stderr: stderr})
	var usage usageError
	if errors.As(err, &usage) {
		fmt.Fprintln(stderr, err)
		fs.Usage()
	}
	return err
}

// findCommand finds the command words name and the arguments after it.
func findCommand(words []string) (command, []string, bool) {
	for _, c := range commands {
		n := len(strings.Fields(c.name))
		if len(words) >= n && strings.Join(words[:n], " ") == c.name {
			return c, words[n:], true
		}
	}
	return command{}, nil, false
}

// refuseCommand answers words that name no command: the commands of the
// group it names ("ledger" lists "ledger verify"), or all of them. Asking
// a group for help is no error.
func refuseCommand(words []string, stdout, stderr io.Writer) error {
	group := ""
	for _, c := range commands {
		if g, _, ok := strings.Cut(c.name, " "); ok && g == words[0] {
			group = g
		}
	}
	if group != "" && len(words) > 1 && isHelp(words[1]) {
		printUsage(stdout, group)
		return nil
	}
	var err error
	switch {
	case group == "":
		err = fmt.Errorf("unknown command %q", words[0])
	case len(words) == 1:
		err = fmt.Errorf("%q needs a subcommand", group)
	default:
		err = fmt.Errorf("unknown command %q", group+" "+words[1])
	}
	fmt.Fprintln(stderr, err)
	printUsage(stderr, group)
	return usageError{err}
}

// printUsage lists the commands, or only those of group when it is not
// empty.
func printUsage(w io.Writer, group string) {
	var b strings.Builder
	b.WriteString("usage: jobsphere <command> [flags]\n\ncommands:\n")
	for _, c := range commands {
		if group != "" && !strings.HasPrefix(c.name, group+" ") {
			continue
		}
		line := strings.TrimSpace(c.name + " " + c.synopsis)
		if len(line) > 26 {
			fmt.Fprintf(&b, "  %s\n  %-26s %s\n", line, "", c.summary)
		} else {
			fmt.Fprintf(&b, "  %-26s %s\n", line, c.summary)
		}
	}
	b.WriteString("\n`jobsphere <command> -h` shows a command's flags. Configuration comes from the environment; see docs/operations.md.\n")
	_, _ = io.WriteString(w, b.String())
}

// printUsage is the command's -h: its usage line, what it does, its flags.
func (c command) printUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "usage: jobsphere %s\n\n%s.\n", strings.TrimSpace(c.name+" "+c.synopsis), upperFirst(c.summary))
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(w, "\nflags:")
		fs.PrintDefaults()
	}
	if c.configured {
		fmt.Fprintln(w, "\nConfiguration comes from the environment (PORT, DATABASE_URL, DATA_DIR, …); see docs/operations.md, Configuration.")
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return version
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// serveCommand is `serve [--port N] [--foreground]`; --port stands for PORT.
func serveCommand(fs *flag.FlagSet) action {
	var port string
	foreground := fs.Bool("foreground", false, "take the terminal's foreground, so that Ctrl-C reaches this server alone (make run uses it: make then sees the server's clean exit, status 0)")
	fs.Func("port", "listen on port `N`, overriding PORT (default $PORT, else 8080; 0: any free port)", func(s string) error {
		if n, err := strconv.Atoi(s); err != nil || n < 0 || n > 65535 {
			return errors.New("must be an integer between 0 and 65535")
		}
		port = s
		return nil
	})
	return func(ctx context.Context, e env) error {
		if port != "" {
			e = e.setting("PORT", port)
		}
		cfg, logger, err := e.load()
		if err != nil {
			return err
		}
		if *foreground {
			restore, err := takeTerminal()
			if err != nil {
				return fmt.Errorf("--foreground: %w", err)
			}
			defer restore()
		}
		return serve(ctx, cfg, logger)
	}
}

// serve runs the HTTP server until ctx is cancelled, then shuts down:
// no new connections, in-flight requests finish, websocket clients get a
// close frame and are waited for, up to SHUTDOWN_TIMEOUT.
func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	app, err := app.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()

	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Handlers run on this context: cancelling it at shutdown ends those
	// still running. Websockets outlive their handlers: DrainWebsockets
	// closes them.
	connCtx, closeConns := context.WithCancel(context.WithoutCancel(ctx))
	defer closeConns()
	api := app.NewServer()
	srv := &http.Server{
		Handler:           api,
		BaseContext:       func(net.Listener) context.Context { return connCtx },
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(closeConns)

	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	// /metrics on an address of its own, when it has one: closed to the
	// public by the network rather than by a token.
	metrics := server.NewMetricsServer(app.Registry, cfg.MetricsToken)
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return errors.Join(fmt.Errorf("METRICS_ADDR: %w", err), srv.Close())
		}
		go func() { serveErr <- metrics.Serve(mln) }()
		logger.Info("metrics listening", "addr", mln.Addr().String())
	}
	go sweepEvery(connCtx, app, logger)
	logger.Info("listening", append([]any{"addr", ln.Addr().String(), "url", cfg.PublicURL}, cfg.Summary()...)...)

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = errors.Join(srv.Shutdown(shutdownCtx), metrics.Shutdown(shutdownCtx), api.DrainWebsockets(shutdownCtx))
	logger.Info("stopped")
	return err
}

func migrate(ctx context.Context, cfg *config.Config, logger *slog.Logger, stdout io.Writer) error {
	cfg.AutoMigrate = false
	app, err := app.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()
	if err := app.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "database schema is up to date")
	return nil
}

func adminCreateCommand(fs *flag.FlagSet) action {
	email := fs.String("email", "", "the admin's email (required)")
	password := fs.String("password", "", "the admin's password, 8+ characters with a letter and a digit (required)")
	name := fs.String("name", "Admin", "the admin's name")
	return func(ctx context.Context, e env) error {
		if *email == "" || *password == "" {
			return usageError{errors.New("admin create: --email and --password are required")}
		}
		app, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer app.Close()
		u, err := app.Auth.CreateAdmin(ctx, *email, *password, *name)
		if err != nil {
			return fmt.Errorf("create admin: %w", err)
		}
		fmt.Fprintf(e.stdout, "admin created: %s <%s>\n", u.ID, u.Email)
		return nil
	}
}

// ledgerVerify is `ledger verify`: the report goes to stdout, and any
// problem makes the command fail.
func ledgerVerify(ctx context.Context, cfg *config.Config, logger *slog.Logger, stdout io.Writer) error {
	app, err := app.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()
	report, err := app.Ledger.Verify(ctx)
	if err != nil {
		return fmt.Errorf("ledger verify: %w", err)
	}
	report.Print(stdout, cfg.Currency.Format)
	if !report.OK() {
		return fmt.Errorf("ledger verify: %d problem(s)", len(report.Problems))
	}
	return nil
}

// sweepEvery sweeps every minute until ctx ends. Every replica runs it;
// each offer still expires once, each transfer and refund is made once,
// each delivered job is auto-released and its customer reminded once (see
// ExpireOffers, SweepTransfers, SweepCardRefunds, SweepDepositRefunds,
// AutoRelease, RemindAutoReleases).
func sweepEvery(ctx context.Context, app *app.App, logger *slog.Logger) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_ = sweep(ctx, app, logger, time.Minute)
		}
	}
}

// sweep expires overdue offers, finishes payouts and refunds to the card
// that were interrupted more than grace ago, completes delivered jobs left
// alone past their autoReleaseAt and reminds customers 48 hours before;
// it logs what it did and returns the sweeps' errors.
func sweep(ctx context.Context, app *app.App, logger *slog.Logger, grace time.Duration) error {
	var errs []error
	for _, step := range []struct {
		what string
		run  func() (int, error)
	}{
		{"offers expired", func() (int, error) { return app.Market.ExpireOffers(ctx) }},
		{"interrupted transfers finished", func() (int, error) { return app.Payments.SweepTransfers(ctx, grace) }},
		{"interrupted card refunds finished", func() (int, error) { return app.Market.SweepCardRefunds(ctx, grace) }},
		{"interrupted deposit refunds finished", func() (int, error) { return app.Payments.SweepDepositRefunds(ctx, grace) }},
		{"delivered jobs auto-released", func() (int, error) { return app.Market.AutoRelease(ctx) }},
		{"auto-release reminders sent", func() (int, error) { return app.Market.RemindAutoReleases(ctx) }},
		{"unanswered disputes settled for their openers", func() (int, error) { return app.Market.SettleUnanswered(ctx) }},
	} {
		n, err := step.run()
		if err != nil {
			logger.Error("sweep failed", "step", step.what, "err", err)
			errs = append(errs, err)
		}
		if n > 0 {
			logger.Info(step.what, "count", n)
		}
	}
	return errors.Join(errs...)
}

// sweepCommand is `sweep [--grace d] [--ahead d]`: what every server does
// each minute, now — or, with --ahead, what the marketplace's sweeps will
// do that much later.
func sweepCommand(fs *flag.FlagSet) action {
	grace := fs.Duration("grace", time.Minute, "finish payouts and card refunds interrupted longer ago than this")
	ahead := fs.Duration("ahead", 0, "sweep the marketplace as the servers will this much later: auto-releases and dispute defaults due by then happen now (drills and tests)")
	return func(ctx context.Context, e env) error {
		if *ahead < 0 {
			return usageError{fmt.Errorf("--ahead %s: a duration of 0 or more", *ahead)}
		}
		app, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer app.Close()
		if *ahead > 0 {
			app.Market.SetClock(func() time.Time { return time.Now().Add(*ahead) })
		}
		return sweep(ctx, app, app.Logger, *grace)
	}
}

func versionCommand(*flag.FlagSet) action {
	return func(_ context.Context, e env) error {
		fmt.Fprintf(e.stdout, "jobsphere %s (%s)\n", buildVersion(), runtime.Version())
		return nil
	}
}
