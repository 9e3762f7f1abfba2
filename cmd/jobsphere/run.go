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
	"time"

	"github.com/jobsphere/jobsphere/app"
	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/server"
)

const usage = `usage: jobsphere <command> [flags]

commands:
  serve                      run the API server (GraphiQL at /, GraphQL at /graphql)
  migrate                    bring the database schema up to date
  admin create --email E --password P --name N
                             create an admin account
  seed                       demo accounts, a funded wallet, jobs in every state
  ledger verify              recompute every balance from the postings; exit 1 on any mismatch
  sweep [--grace 1m]         expire overdue offers, finish interrupted payouts and card refunds, auto-release delivered jobs (servers do it every minute)
  version                    print the version

Configuration comes from the environment; see README.md.`

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// run is the whole program; main only calls it, so tests can too.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "version":
		fmt.Fprintf(stdout, "jobsphere %s (%s)\n", buildVersion(), runtime.Version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stdout)
	switch cmd {
	case "serve":
		return serve(ctx, cfg, logger)
	case "migrate":
		return migrate(ctx, cfg, logger, stdout)
	case "admin":
		return adminCommand(ctx, cfg, logger, rest, stdout, stderr)
	case "seed":
		return seed(ctx, cfg, logger, stdout)
	case "ledger":
		return ledgerCommand(ctx, cfg, logger, rest, stdout)
	case "sweep":
		return sweepCommand(ctx, cfg, logger, rest, stderr)
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
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
	// Websocket handlers run on this context: cancelling it at shutdown
	// closes them, which http.Server.Shutdown alone does not.
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

func adminCommand(ctx context.Context, cfg *config.Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: jobsphere admin create --email E --password P --name N")
	}
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the admin's email")
	password := fs.String("password", "", "the admin's password (8+ characters, a letter and a digit)")
	name := fs.String("name", "Admin", "the admin's name")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	app, err := app.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()
	u, err := app.Auth.CreateAdmin(ctx, *email, *password, *name)
	if err != nil {
		return fmt.Errorf("create admin: %w", err)
	}
	fmt.Fprintf(stdout, "admin created: %s <%s>\n", u.ID, u.Email)
	return nil
}

// ledgerCommand runs `ledger verify`: the report goes to stdout, and any
// problem makes the command fail.
func ledgerCommand(ctx context.Context, cfg *config.Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "verify" {
		return errors.New("usage: jobsphere ledger verify")
	}
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

// sweepCommand runs `sweep` once: what every server does each minute, now.
func sweepCommand(ctx context.Context, cfg *config.Config, logger *slog.Logger, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	grace := fs.Duration("grace", time.Minute, "finish payouts and card refunds interrupted longer ago than this")
	if err := fs.Parse(args); err != nil {
		return err
	}
	app, err := app.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()
	return sweep(ctx, app, logger, *grace)
}
