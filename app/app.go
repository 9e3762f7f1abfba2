// Package app builds the running system from its configuration: it
// opens and migrates the database and wires the services, the metrics
// registry and the tracer together once, for the binary (cmd/jobsphere),
// the test harness (server/servertest) and the load generator alike. It
// holds no business rules and no HTTP; NewServer hands the parts the HTTP
// layer needs to package server.
package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobsphere/jobsphere/app/database"
	"github.com/jobsphere/jobsphere/audit"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/batch"
	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/graph"
	"github.com/jobsphere/jobsphere/ledger"
	"github.com/jobsphere/jobsphere/lookup"
	"github.com/jobsphere/jobsphere/market"
	"github.com/jobsphere/jobsphere/media"
	"github.com/jobsphere/jobsphere/payments"
	"github.com/jobsphere/jobsphere/payments/sandbox"
	"github.com/jobsphere/jobsphere/payments/stripe"
	"github.com/jobsphere/jobsphere/realtime"
	"github.com/jobsphere/jobsphere/server"
	"github.com/jobsphere/jobsphere/webhooks"
)

// App is the running system's parts, built once from the configuration.
type App struct {
	Config   *config.Config
	Logger   *slog.Logger
	DB       *sql.DB
	Client   *ent.Client
	Auth     *auth.Service
	Ledger   *ledger.Ledger
	Market   *market.Service
	Payments *payments.Service
	Broker   realtime.Broker
	Webhooks *webhooks.Handler
	Sandbox  *sandbox.Sandbox // nil when payments go to Stripe
	Media    *media.Service
	Registry *prometheus.Registry
	// Tracing sends spans to OTEL_EXPORTER_OTLP_ENDPOINT; nil when tracing
	// is off. Close flushes it.
	Tracing *sdktrace.TracerProvider

	telemetry *telemetry
}

// Open connects to the database, migrates it when AUTO_MIGRATE is on and
// builds the services. Every line logger writes with a request's context
// gets the request's id and viewer (see server.WithRequestContext).
func Open(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*App, error) {
	tp, err := newTracerProvider(ctx, cfg)
	if err != nil {
		return nil, err
	}
	meter := &database.Meter{}
	db, client, err := openDatabase(cfg, meter.Wrap(sqlOpener(tp)))
	if err != nil {
		if tp != nil {
			err = errors.Join(err, tp.Shutdown(ctx))
		}
		return nil, err
	}
	recordGroups(client)
	app := &App{
		Config: cfg, Logger: server.WithRequestContext(logger), DB: db, Client: client, Registry: prometheus.NewRegistry(),
		Tracing: tp,
	}
	app.telemetry = newTelemetry(app.Registry, meter)
	app.Ledger = ledger.New(client, cfg.Currency, !cfg.Embedded(), ledger.WithObserver(app.telemetry.observeLedgerTransaction))
	if err := app.build(ctx); err != nil {
		return nil, errors.Join(err, app.Close())
	}
	return app, nil
}

// recordGroups has the client note, in a GraphQL response's scope, which
// objects each query read together, for the types whose GraphQL edges the
// services read per list (package batch).
func recordGroups(client *ent.Client) {
	client.Job.Intercept(batch.Recorder[ent.Job]())
	client.Contract.Intercept(batch.Recorder[ent.Contract]())
	client.Dispute.Intercept(batch.Recorder[ent.Dispute]())
	client.DisputeMessage.Intercept(batch.Recorder[ent.DisputeMessage]())
	client.User.Intercept(batch.Recorder[ent.User]())
}

func (a *App) build(ctx context.Context) error {
	if err := a.DB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if a.Config.AutoMigrate {
		if err := a.Migrate(ctx); err != nil {
			return err
		}
	}
	authn, err := auth.NewService(a.Client, a.Ledger, auth.Config{
		JWTSecret:       a.Config.JWTSecret,
		AccessTokenTTL:  a.Config.AccessTokenTTL,
		RefreshTokenTTL: a.Config.RefreshTokenTTL,
		BcryptCost:      a.Config.BcryptCost,

		RegisterPerAddress: a.Config.RegisterPerAddress,
		LoginPerAddress:    a.Config.LoginPerAddress,
	})
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	a.Auth = authn
	gateway, verifier, err := a.buildGateway()
	if err != nil {
		return err
	}
	// payments needs the marketplace (a job Checkout funds it); the
	// marketplace refunds cards through the gateway alone.
	a.Market, err = market.NewService(a.Client, a.Ledger, a.Broker, market.Config{
		Currency: a.Config.Currency,
		Rates:    ledger.Rates{CustomerBPS: a.Config.FeeCustomerBPS, ContractorBPS: a.Config.FeeContractorBPS},
		MinOffer: a.Config.MinOffer, MaxOffer: a.Config.MaxOffer, OfferTTL: a.Config.OfferTTL,
		RequireReleaseApproval: a.Config.RequireReleaseApproval, AutoReleaseDays: a.Config.AutoReleaseDays,
		DisputeResponseDays: a.Config.DisputeResponseDays,
	}, payments.NewCardRefunds(gateway))
	if err != nil {
		return err
	}
	if err := a.buildPayments(gateway, verifier); err != nil {
		return err
	}
	var store media.Store = &media.Local{Dir: a.MediaDir(), PublicURL: a.Config.PublicURL}
	if a.Config.CloudinaryURL != "" {
		cld, err := media.NewCloudinary(a.Config.CloudinaryURL)
		if err != nil {
			return fmt.Errorf("media store: %w", err)
		}
		store = cld
	}
	a.Media = media.NewService(a.Client, store, auth.NewRateLimiter(a.Client), media.Limits{
		MaxImageBytes: a.Config.MaxImageBytes, MaxVideoBytes: a.Config.MaxVideoBytes,
		UploadsPerHour: a.Config.UploadsPerHour, QuotaBytes: a.Config.UploadQuotaBytes,
	}, !a.Config.Embedded())
	a.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(a.DB, "jobsphere"),
	)
	return nil
}

// buildGateway makes the broker, the gateway (Stripe, or the sandbox when
// no key is set) and the verifier of the events it sends.
func (a *App) buildGateway() (payments.Gateway, payments.EventVerifier, error) {
	cfg := a.Config
	broker, err := newBroker(cfg, a.DB, a.Logger)
	if err != nil {
		return nil, nil, fmt.Errorf("realtime broker: %w", err)
	}
	a.Broker = broker
	if cfg.Sandbox() {
		secret := sandboxWebhookSecret(cfg.JWTSecret)
		a.Sandbox = sandbox.New(cfg.PublicURL, secret, cfg.Currency, a.Client, a.Logger)
		return a.Sandbox, stripe.NewVerifier(secret), nil
	}
	return stripe.NewGateway(cfg.StripeSecretKey, cfg.StripeAPIBase, a.Logger),
		stripe.NewVerifier(cfg.StripeWebhookSecret, cfg.StripeConnectWebhookSecret), nil
}

// newBroker is NATS when NATS_URL is set, else in-process with SQLite and
// LISTEN/NOTIFY with PostgreSQL.
func newBroker(cfg *config.Config, db *sql.DB, logger *slog.Logger) (realtime.Broker, error) {
	switch {
	case cfg.NATSURL != "":
		return realtime.NewNATS(cfg.NATSURL, logger)
	case cfg.Embedded():
		return realtime.NewMemory(), nil
	}
	return realtime.NewPostgres(cfg.DatabaseURL, db, logger)
}

// buildPayments wires the payments service and the webhook endpoint.
func (a *App) buildPayments(gateway payments.Gateway, verifier payments.EventVerifier) error {
	cfg := a.Config
	publishable := cfg.StripePublishableKey
	if cfg.Sandbox() {
		publishable = "pk_test_sandbox"
	}
	var err error
	a.Payments, err = payments.NewService(a.Client, a.Ledger, gateway, auth.NewRateLimiter(a.Client), a.Broker, a.Market, payments.Config{
		Currency: cfg.Currency, MinDeposit: cfg.MinDeposit, PublishableKey: publishable,
		Rates:      ledger.Rates{CustomerBPS: cfg.FeeCustomerBPS, ContractorBPS: cfg.FeeContractorBPS},
		SuccessURL: cfg.DepositSuccessURL, CancelURL: cfg.DepositCancelURL,
		ReturnURL:     cfg.PublicURL + "/payments/return?result=authenticated",
		PublicURL:     cfg.PublicURL,
		MinWithdrawal: cfg.MinWithdrawal, MaxWithdrawal: cfg.MaxWithdrawal,
		RequireWithdrawalApproval: cfg.RequireWithdrawalApproval,
	}, a.Logger)
	if err != nil {
		return err
	}
	a.Webhooks = webhooks.New(a.Client, verifier, a.Payments, a.Logger, !cfg.Embedded())
	a.Webhooks.OnOutcome(a.telemetry.observeWebhook)
	if a.Sandbox != nil {
		a.Sandbox.DeliverTo(a.Webhooks.Receive)
	}
	return nil
}

// sandboxWebhookSecret derives the sandbox's signing secret from the JWT
// secret: stable across restarts, never configured, never shown.
func sandboxWebhookSecret(jwtSecret []byte) string {
	mac := hmac.New(sha256.New, jwtSecret)
	mac.Write([]byte("jobsphere sandbox webhook"))
	return "whsec_sandbox_" + hex.EncodeToString(mac.Sum(nil))
}

// MediaDir is where local uploads live.
func (a *App) MediaDir() string { return filepath.Join(a.Config.DataDir, "media") }

// Migrate brings the database schema up to date and creates the
// platform's ledger accounts.
func (a *App) Migrate(ctx context.Context) error {
	if err := database.Migrate(ctx, a.DB, a.Client, !a.Config.Embedded()); err != nil {
		return err
	}
	if err := a.Ledger.EnsurePlatformAccounts(ctx); err != nil {
		return fmt.Errorf("migrate: platform accounts: %w", err)
	}
	return nil
}

// NewServer builds the HTTP service over the App's parts. Call it once per
// App: it registers the HTTP metrics with the App's registry.
func (a *App) NewServer() *server.Server {
	var tp trace.TracerProvider // nil, not a nil *sdktrace.TracerProvider, when tracing is off
	if a.Tracing != nil {
		tp = a.Tracing
	}
	var sandbox server.SandboxPages
	if a.Sandbox != nil {
		sandbox = a.Sandbox
	}
	return server.NewServer(a.Config, a.Logger, a.Registry, tp, server.Services{
		Auth: a.Auth,
		Resolver: &graph.Resolver{
			Lookup:   lookup.New(a.Client),
			Auth:     a.Auth,
			Ledger:   a.Ledger,
			Market:   a.Market,
			Payments: a.Payments,
			Media:    a.Media,
			Audit:    audit.NewLog(a.Client),
		},
		Webhooks:      a.Webhooks,
		Media:         a.Media,
		MediaDir:      a.MediaDir(),
		Sandbox:       sandbox,
		Ready:         a.DB.PingContext,
		Subscriptions: a.Broker.Subscriptions,
	})
}

// Close releases the broker and the database, then sends the spans not
// sent yet.
func (a *App) Close() error {
	var err error
	if a.Broker != nil {
		err = a.Broker.Close()
	}
	err = errors.Join(err, a.Client.Close())
	if a.Tracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = errors.Join(err, a.Tracing.Shutdown(ctx))
	}
	return err
}
