// Package config reads the server's typed configuration from environment
// variables and validates it once, at start.
//
// Load checks every variable and reports all problems together, one line
// per variable, each starting with the variable's name:
//
//	PORT: must be an integer between 0 and 65535, got "abc"
//
// Secret values (JWT_SECRET, the password in DATABASE_URL) never appear in
// an error message, and Summary gives only values that are safe to log.
//
// The fields of Config are the reference for every variable: its name,
// default and allowed values.
package config

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jobsphere/jobsphere"
)

// Config is the server's configuration. Each field's comment names the
// environment variable it comes from, its default and its allowed values.
// Values are trimmed of surrounding spaces, and an empty variable means
// its default.
type Config struct {
	// Env is APP_ENV: "development" (default), "test" or "production";
	// anything else is an error.
	Env string
	// Port is PORT, default 8080, 0..65535; 0 picks a free port (for tests).
	Port int
	// PublicURL is PUBLIC_URL, default "http://localhost:<Port>". It must be
	// an absolute http(s) URL without credentials, query or fragment; a
	// trailing "/" is removed. It is the base of every link the server
	// hands out.
	PublicURL string
	// DatabaseURL is DATABASE_URL: empty means the embedded SQLite
	// database (see SQLitePath); otherwise it must be a URL starting with
	// postgres:// or postgresql://.
	DatabaseURL string
	// NATSURL is NATS_URL: empty (the default) sends realtime events through
	// PostgreSQL's LISTEN/NOTIFY, or in-process with SQLite; otherwise they
	// go through core NATS at these servers: one URL or several,
	// comma-separated, each nats://, tls://, ws:// or wss:// with a host,
	// credentials allowed (user:password@) and never shown.
	NATSURL string
	// DataDir is DATA_DIR, default "./data": the SQLite file, media and the
	// generated JWT secret live here.
	DataDir string
	// JWTSecret is JWT_SECRET, at least 32 bytes, used as given. In
	// production it is required. Otherwise, when it is empty, the secret is
	// read from <DataDir>/jwt_secret; when that file does not exist, 32
	// random bytes are generated, hex-encoded (64 characters), DataDir is
	// created (0700), the file is written (0600), and its text is used.
	JWTSecret []byte
	// AccessTokenTTL is ACCESS_TOKEN_TTL, default 15m (Go duration syntax),
	// 1s..24h (seconds are for tests of expiry).
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is REFRESH_TOKEN_TTL, default 720h, at least 1h and
	// at least AccessTokenTTL.
	RefreshTokenTTL time.Duration
	// BcryptCost is BCRYPT_COST, default 12, 4..31; production needs >= 10.
	BcryptCost int
	// CORSOrigins is CORS_ORIGINS: comma-separated, trimmed, empty entries
	// dropped. Default ["*"] outside production, [] in production. Each
	// entry must be "*" or an http(s) origin without path, like
	// "https://app.example.com"; origins are lower-cased.
	CORSOrigins []string
	// Currency is CURRENCY, default "usd", any code jobsphere.LookupCurrency
	// knows, in any case. Every amount below is in this currency.
	Currency jobsphere.Currency
	// FeeCustomerBPS is FEE_CUSTOMER_BPS, default 500, 0..10000 basis points.
	FeeCustomerBPS int
	// FeeContractorBPS is FEE_CONTRACTOR_BPS, default 2000, 0..10000 basis
	// points.
	FeeContractorBPS int
	// MinDeposit is MIN_DEPOSIT in minor units. The variable is a decimal
	// amount in major units, default "10" (so 1000 for usd), read with
	// Currency.Parse: no sign, at most Currency.Exponent decimal places.
	MinDeposit int64
	// MinOffer is OFFER_MIN in minor units; the variable is a major-unit
	// amount like MIN_DEPOSIT, default "10".
	MinOffer int64
	// MaxOffer is OFFER_MAX in minor units, default "10000"; at least
	// MinOffer.
	MaxOffer int64
	// MinWithdrawal is WITHDRAWAL_MIN in minor units, default "10".
	MinWithdrawal int64
	// MaxWithdrawal is WITHDRAWAL_MAX in minor units, default "10000"; at
	// least MinWithdrawal.
	MaxWithdrawal int64
	// OfferTTL is OFFER_TTL, default 168h; must be positive.
	OfferTTL time.Duration
	// RequireReleaseApproval is REQUIRE_RELEASE_APPROVAL, default true.
	// Booleans accept true/false, 1/0, yes/no and on/off in any case.
	RequireReleaseApproval bool
	// AutoReleaseDays is AUTO_RELEASE_DAYS, default 14, 3–365: how long
	// after a delivery (submitWork) the job completes by itself. At least
	// 3, so the reminder 48 hours before comes after the delivery.
	AutoReleaseDays int
	// DisputeResponseDays is DISPUTE_RESPONSE_DAYS, default 5, 1–60: how
	// long the other party of a dispute has to answer before the sweeper
	// settles it for the opener.
	DisputeResponseDays int
	// RequireWithdrawalApproval is REQUIRE_WITHDRAWAL_APPROVAL, default false.
	RequireWithdrawalApproval bool
	// AutoMigrate is AUTO_MIGRATE; default true when DatabaseURL is empty
	// (embedded SQLite), false otherwise.
	AutoMigrate bool
	// MaxBodyBytes is MAX_BODY_BYTES, default 1048576 (1 MiB), at least 1024.
	MaxBodyBytes int64
	// MaxUploadBytes is MAX_UPLOAD_BYTES, default 104857600 (100 MiB), at
	// least MaxBodyBytes.
	MaxUploadBytes int64
	// BodyReadTimeout is BODY_READ_TIMEOUT, default 30s, 1s..1h: how long a
	// request body may take to arrive once its headers have; a client
	// still sending then is answered 408 and its connection closed.
	BodyReadTimeout time.Duration
	// UploadMinRate is UPLOAD_MIN_RATE, default 65536 (64 KiB/s), at least
	// 1024: the slowest upload, in bytes a second, that is waited for. A
	// multipart body may take BodyReadTimeout + its size / UploadMinRate,
	// its size being its Content-Length, or MaxUploadBytes when it has none.
	UploadMinRate int64
	// DBMaxOpenConns is DB_MAX_OPEN_CONNS, default 20: PostgreSQL
	// connections per process. Replicas × this must stay under the
	// server's max_connections (100 by default).
	DBMaxOpenConns int
	// TrustedProxyHops is TRUSTED_PROXY_HOPS, default 0: how many proxies
	// of ours append to X-Forwarded-For. 0 takes the client's address from
	// the connection; N takes the Nth address from the right of the header.
	TrustedProxyHops int
	// RegisterPerAddress is REGISTER_LIMIT_PER_ADDRESS, default 10: sign-ups
	// an hour from one client address; 0 turns the limit off.
	RegisterPerAddress int
	// LoginPerAddress is LOGIN_LIMIT_PER_ADDRESS, default 30: sign-ins a
	// quarter hour from one client address (each email also has 10); 0
	// turns the limit off.
	LoginPerAddress int
	// WebsocketInitTimeout is WEBSOCKET_INIT_TIMEOUT, default 10s, 1s..5m:
	// how long a websocket may go without connection_init, and how long
	// one initialised without a token may stay open.
	WebsocketInitTimeout time.Duration
	// WebsocketMaxSubscriptions is WEBSOCKET_MAX_SUBSCRIPTIONS, default
	// 100, 1..100000: operations one websocket may have open at once
	// (subscriptions, and queries until answered: graphql-ws subscribes
	// to each).
	WebsocketMaxSubscriptions int
	// WebsocketPerAddress is WEBSOCKET_LIMIT_PER_ADDRESS, default 100: open
	// websockets from one client address (see TrustedProxyHops); 0 turns
	// the limit off.
	WebsocketPerAddress int
	// GraphQLMaxDepth is GRAPHQL_MAX_DEPTH, default 12, 2..100.
	GraphQLMaxDepth int
	// GraphQLMaxComplexity is GRAPHQL_MAX_COMPLEXITY, default 1000, at
	// least 10.
	GraphQLMaxComplexity int
	// Introspection is GRAPHQL_INTROSPECTION, default true unless production.
	Introspection bool
	// Playground is GRAPHIQL, default true unless production.
	Playground bool
	// LogLevel is LOG_LEVEL: debug, info (default), warn or error, in any
	// case.
	LogLevel slog.Level
	// LogFormat is LOG_FORMAT: "text" or "json"; default "json" in
	// production (for log collectors), "text" otherwise (for people).
	LogFormat string
	// ShutdownTimeout is SHUTDOWN_TIMEOUT, default 15s; must be positive.
	ShutdownTimeout time.Duration
	// MetricsAddr is METRICS_ADDR, a host:port like "127.0.0.1:9090" (an
	// empty host: every interface; port 0: any free one). When set,
	// /metrics is served there only, not on the API's address. Empty by
	// default.
	MetricsAddr string
	// MetricsToken is METRICS_TOKEN, at least 16 characters: when set,
	// /metrics wants "Authorization: Bearer <token>", on whichever address
	// serves it. In production, without it or MetricsAddr, /metrics is
	// not served at all (see MetricsOnAPIAddress). Never shown.
	MetricsToken string

	// StripeSecretKey is STRIPE_SECRET_KEY (sk_test_… or sk_live_…). When
	// it is empty, payments go through the sandbox gateway, which is
	// refused in production.
	StripeSecretKey string
	// StripePublishableKey is STRIPE_PUBLISHABLE_KEY (pk_…), handed to
	// clients by stripeConfig; required with a secret key.
	StripePublishableKey string
	// StripeWebhookSecret is STRIPE_WEBHOOK_SECRET (whsec_…), the signing
	// secret of the webhook endpoint; required with a secret key. The
	// sandbox derives its own.
	StripeWebhookSecret string
	// StripeConnectWebhookSecret is STRIPE_CONNECT_WEBHOOK_SECRET, the
	// signing secret of a second endpoint created for Connect events;
	// optional.
	StripeConnectWebhookSecret string
	// StripeAPIBase is STRIPE_API_BASE, default "https://api.stripe.com";
	// tests point it at stripe-mock.
	StripeAPIBase string
	// CloudinaryURL is CLOUDINARY_URL (cloudinary://key:secret@cloud): media
	// go to Cloudinary; empty keeps them on local disk under DataDir/media.
	CloudinaryURL string
	// MaxImageBytes and MaxVideoBytes are MEDIA_MAX_IMAGE_BYTES (default
	// 25 MB) and MEDIA_MAX_VIDEO_BYTES (default 100 MB), at most
	// MAX_UPLOAD_BYTES.
	MaxImageBytes, MaxVideoBytes int64
	// UploadsPerHour is UPLOAD_LIMIT_PER_HOUR, default 30: files one user
	// may upload an hour, by either route; 0 turns the limit off.
	UploadsPerHour int
	// UploadQuotaBytes is UPLOAD_QUOTA_BYTES, default 209715200 (200 MiB):
	// what one user may keep stored in all, counted from their media
	// records; 0 turns the quota off.
	UploadQuotaBytes int64
	// DepositSuccessURL and DepositCancelURL are DEPOSIT_SUCCESS_URL and
	// DEPOSIT_CANCEL_URL: where Checkout sends the payer back when a
	// deposit gives none. Default: PUBLIC_URL/payments/return?result=…
	DepositSuccessURL, DepositCancelURL string

	// TracesEndpoint is where OpenTelemetry spans are sent, over OTLP/HTTP
	// with protobuf: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else
	// OTEL_EXPORTER_OTLP_ENDPOINT with "/v1/traces" appended (the
	// OpenTelemetry rule for the two). It must be an absolute http(s) URL.
	// Empty (the default) means no tracing at all; so do
	// OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none (the only other
	// accepted exporter is "otlp"). With an endpoint,
	// OTEL_EXPORTER_OTLP_PROTOCOL and OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
	// when set, must be http/protobuf.
	// The exporter's other settings (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT,
	// _COMPRESSION, _CERTIFICATE…), the sampler (OTEL_TRACES_SAMPLER…),
	// the batch processor (OTEL_BSP_…) and OTEL_RESOURCE_ATTRIBUTES are
	// read by the OpenTelemetry SDK itself, from the process environment.
	TracesEndpoint string
	// ServiceName is OTEL_SERVICE_NAME, default "jobsphere": the
	// service.name of every span.
	ServiceName string
}

// Sandbox reports whether payments go through the sandbox gateway.
func (c *Config) Sandbox() bool { return c.StripeSecretKey == "" }

const (
	minSecretLen       = 32
	minMetricsTokenLen = 16
	secretFileName     = "jwt_secret"
	sqliteFileName     = "jobsphere.db"
)

// Load reads the configuration through getenv (os.Getenv when nil) and
// validates it. On any problem it returns a nil Config and an error joining
// one message per bad variable (errors.Join), each starting with the
// variable's name. When JWT_SECRET is empty outside production, Load reads
// or creates <DATA_DIR>/jwt_secret; it creates nothing when another
// variable is invalid.
func Load(getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	l := &loader{getenv: getenv}
	c := &Config{}

	c.Env = l.oneOf("APP_ENV", "development", "development", "test", "production")
	prod := c.Env == "production"

	c.Port, _ = l.integer("PORT", 8080, 0, 65535)
	c.PublicURL = l.publicURL(c.Port)
	c.DatabaseURL = l.databaseURL()
	c.NATSURL = l.natsURL()
	c.DataDir = l.get("DATA_DIR")
	if c.DataDir == "" {
		c.DataDir = "./data"
	}

	var accessOK, refreshOK bool
	c.AccessTokenTTL, accessOK = l.duration("ACCESS_TOKEN_TTL", 15*time.Minute, time.Second, 24*time.Hour)
	c.RefreshTokenTTL, refreshOK = l.duration("REFRESH_TOKEN_TTL", 720*time.Hour, time.Hour, math.MaxInt64)
	if accessOK && refreshOK && c.RefreshTokenTTL < c.AccessTokenTTL {
		l.fail("REFRESH_TOKEN_TTL", "must not be shorter than ACCESS_TOKEN_TTL (%s), got %s",
			fmtDuration(c.AccessTokenTTL), fmtDuration(c.RefreshTokenTTL))
	}

	var costOK bool
	c.BcryptCost, costOK = l.integer("BCRYPT_COST", 12, 4, 31)
	if costOK && prod && c.BcryptCost < 10 {
		l.fail("BCRYPT_COST", "must be at least 10 in production, got %d", c.BcryptCost)
	}

	c.CORSOrigins = l.corsOrigins(prod)

	cur, curOK := jobsphere.USD, true
	if s := l.get("CURRENCY"); s != "" {
		var err error
		if cur, err = jobsphere.LookupCurrency(s); err != nil {
			l.fail("CURRENCY", "must be a supported ISO 4217 code like \"usd\", got %q", s)
			curOK = false
		}
	}
	c.Currency = cur

	c.FeeCustomerBPS, _ = l.integer("FEE_CUSTOMER_BPS", 500, 0, 10000)
	c.FeeContractorBPS, _ = l.integer("FEE_CONTRACTOR_BPS", 2000, 0, 10000)

	// Amounts are only checked when the currency is known: whether "10.5"
	// is valid depends on its exponent.
	if curOK {
		c.MinDeposit, _ = l.amount(cur, "MIN_DEPOSIT", "10")
		var minOK, maxOK bool
		c.MinOffer, minOK = l.amount(cur, "OFFER_MIN", "10")
		c.MaxOffer, maxOK = l.amount(cur, "OFFER_MAX", "10000")
		if minOK && maxOK && c.MaxOffer < c.MinOffer {
			l.fail("OFFER_MAX", "must be at least OFFER_MIN (%s), got %s", cur.Format(c.MinOffer), cur.Format(c.MaxOffer))
		}
		c.MinWithdrawal, minOK = l.amount(cur, "WITHDRAWAL_MIN", "10")
		c.MaxWithdrawal, maxOK = l.amount(cur, "WITHDRAWAL_MAX", "10000")
		if minOK && maxOK && c.MaxWithdrawal < c.MinWithdrawal {
			l.fail("WITHDRAWAL_MAX", "must be at least WITHDRAWAL_MIN (%s), got %s", cur.Format(c.MinWithdrawal), cur.Format(c.MaxWithdrawal))
		}
	}

	c.OfferTTL, _ = l.duration("OFFER_TTL", 168*time.Hour, 1, math.MaxInt64)
	c.RequireReleaseApproval = l.boolean("REQUIRE_RELEASE_APPROVAL", true)
	c.AutoReleaseDays, _ = l.integer("AUTO_RELEASE_DAYS", 14, 3, 365)
	c.DisputeResponseDays, _ = l.integer("DISPUTE_RESPONSE_DAYS", 5, 1, 60)
	c.RequireWithdrawalApproval = l.boolean("REQUIRE_WITHDRAWAL_APPROVAL", false)
	c.AutoMigrate = l.boolean("AUTO_MIGRATE", l.get("DATABASE_URL") == "")

	var bodyOK, uploadOK bool
	c.MaxBodyBytes, bodyOK = l.integer64("MAX_BODY_BYTES", 1<<20, 1024, math.MaxInt64)
	c.MaxUploadBytes, uploadOK = l.integer64("MAX_UPLOAD_BYTES", 100<<20, 1024, math.MaxInt64)
	if bodyOK && uploadOK && c.MaxUploadBytes < c.MaxBodyBytes {
		l.fail("MAX_UPLOAD_BYTES", "must be at least MAX_BODY_BYTES (%d), got %d", c.MaxBodyBytes, c.MaxUploadBytes)
	}
	c.BodyReadTimeout, _ = l.duration("BODY_READ_TIMEOUT", 30*time.Second, time.Second, time.Hour)
	c.UploadMinRate, _ = l.integer64("UPLOAD_MIN_RATE", 64<<10, 1024, math.MaxInt64)

	c.TrustedProxyHops, _ = l.integer("TRUSTED_PROXY_HOPS", 0, 0, 10)
	c.DBMaxOpenConns, _ = l.integer("DB_MAX_OPEN_CONNS", 20, 2, 10000)
	c.RegisterPerAddress, _ = l.integer("REGISTER_LIMIT_PER_ADDRESS", 10, 0, math.MaxInt32)
	c.LoginPerAddress, _ = l.integer("LOGIN_LIMIT_PER_ADDRESS", 30, 0, math.MaxInt32)
	c.WebsocketInitTimeout, _ = l.duration("WEBSOCKET_INIT_TIMEOUT", 10*time.Second, time.Second, 5*time.Minute)
	c.WebsocketMaxSubscriptions, _ = l.integer("WEBSOCKET_MAX_SUBSCRIPTIONS", 100, 1, 100000)
	c.WebsocketPerAddress, _ = l.integer("WEBSOCKET_LIMIT_PER_ADDRESS", 100, 0, math.MaxInt32)
	c.GraphQLMaxDepth, _ = l.integer("GRAPHQL_MAX_DEPTH", 12, 2, 100)
	c.GraphQLMaxComplexity, _ = l.integer("GRAPHQL_MAX_COMPLEXITY", 1000, 10, math.MaxInt)
	c.Introspection = l.boolean("GRAPHQL_INTROSPECTION", !prod)
	c.Playground = l.boolean("GRAPHIQL", !prod)
	c.LogLevel = l.logLevel()
	c.LogFormat = l.oneOf("LOG_FORMAT", map[bool]string{true: "json", false: "text"}[prod], "text", "json")
	c.ShutdownTimeout, _ = l.duration("SHUTDOWN_TIMEOUT", 15*time.Second, 1, math.MaxInt64)
	c.MetricsAddr = l.listenAddr("METRICS_ADDR")
	if c.MetricsToken = l.get("METRICS_TOKEN"); c.MetricsToken != "" && len(c.MetricsToken) < minMetricsTokenLen {
		l.fail("METRICS_TOKEN", "must be at least %d characters long, got %d (value not shown)", minMetricsTokenLen, len(c.MetricsToken))
	}

	l.stripe(c, prod)
	c.CloudinaryURL = l.get("CLOUDINARY_URL")
	if c.CloudinaryURL != "" && !strings.HasPrefix(c.CloudinaryURL, "cloudinary://") {
		l.fail("CLOUDINARY_URL", "must look like cloudinary://key:secret@cloud (value not shown)")
	}
	c.MaxImageBytes, _ = l.integer64("MEDIA_MAX_IMAGE_BYTES", 25<<20, 1, math.MaxInt64)
	c.MaxVideoBytes, _ = l.integer64("MEDIA_MAX_VIDEO_BYTES", 100<<20, 1, math.MaxInt64)
	c.UploadsPerHour, _ = l.integer("UPLOAD_LIMIT_PER_HOUR", 30, 0, math.MaxInt32)
	c.UploadQuotaBytes, _ = l.integer64("UPLOAD_QUOTA_BYTES", 200<<20, 0, math.MaxInt64)
	l.tracing(c)

	// Last, so that nothing is written to disk for a refused configuration.
	c.JWTSecret = l.jwtSecret(prod, c.DataDir)

	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	return c, nil
}

// Production reports whether Env is "production".
func (c *Config) Production() bool { return c.Env == "production" }

// MetricsOnAPIAddress reports whether /metrics is served on the API's own
// address: when it has none of its own (MetricsAddr), and in production
// only behind MetricsToken: the metrics tell how much money moves, and
// through which operations.
func (c *Config) MetricsOnAPIAddress() bool {
	return c.MetricsAddr == "" && (c.MetricsToken != "" || !c.Production())
}

// Embedded reports whether the server uses the embedded SQLite database,
// that is whether DatabaseURL is empty.
func (c *Config) Embedded() bool { return c.DatabaseURL == "" }

// SQLitePath is the embedded database's file: DataDir/jobsphere.db.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, sqliteFileName) }

// Summary returns slog key/value pairs describing the configuration, safe
// to log at start: it never holds the JWT secret, and the database is
// given as "sqlite:<path>" or as a postgres URL reduced to host and
// database name (no user, password or parameters).
//
//	logger.Info("starting", cfg.Summary()...)
func (c *Config) Summary() []any {
	return []any{
		"env", c.Env,
		"port", c.Port,
		"public_url", c.PublicURL,
		"database", c.databaseSummary(),
		"realtime", c.realtimeSummary(),
		"auto_migrate", c.AutoMigrate,
		"currency", c.Currency.Code,
		"fee_customer_bps", c.FeeCustomerBPS,
		"fee_contractor_bps", c.FeeContractorBPS,
		"require_release_approval", c.RequireReleaseApproval,
		"auto_release_days", c.AutoReleaseDays, "dispute_response_days", c.DisputeResponseDays,
		"require_withdrawal_approval", c.RequireWithdrawalApproval,
		"cors_origins", strings.Join(c.CORSOrigins, ","),
		"graphql_introspection", c.Introspection,
		"graphiql", c.Playground,
		"payments", map[bool]string{true: "sandbox", false: "stripe"}[c.Sandbox()],
		"tracing", c.tracingSummary(),
		"metrics_addr", c.MetricsAddr,
		"metrics_token", c.MetricsToken != "",
	}
}

// tracingSummary is "off" or the traces endpoint reduced to scheme and
// host (its path and query may hold a token).
func (c *Config) tracingSummary() string {
	if c.TracesEndpoint == "" {
		return "off"
	}
	u, err := url.Parse(c.TracesEndpoint)
	if err != nil {
		return "otlp"
	}
	return u.Scheme + "://" + u.Host
}

// realtimeSummary names the realtime broker: "memory", "postgres", or
// "nats" with the servers' hosts (their URLs may hold credentials).
func (c *Config) realtimeSummary() string {
	switch {
	case c.NATSURL != "":
		var hosts []string
		for _, s := range strings.Split(c.NATSURL, ",") {
			if u, err := url.Parse(strings.TrimSpace(s)); err == nil {
				hosts = append(hosts, u.Host)
			}
		}
		return "nats:" + strings.Join(hosts, ",")
	case c.Embedded():
		return "memory"
	}
	return "postgres"
}

func (c *Config) databaseSummary() string {
	if c.Embedded() {
		return "sqlite:" + c.SQLitePath()
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		return "postgres"
	}
	safe := url.URL{Scheme: "postgres", Host: u.Host, Path: u.Path}
	return safe.String()
}

// loader reads variables and collects one error per bad one.
type loader struct {
	getenv func(string) string
	errs   []error
}

func (l *loader) get(name string) string { return strings.TrimSpace(l.getenv(name)) }

func (l *loader) fail(name, format string, args ...any) {
	l.errs = append(l.errs, errors.New(name+": "+fmt.Sprintf(format, args...)))
}

// oneOf reads a lower-cased value that must be one of allowed.
func (l *loader) oneOf(name, def string, allowed ...string) string {
	s := strings.ToLower(l.get(name))
	if s == "" {
		return def
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	l.fail(name, "must be one of %s, got %q", quoteList(allowed), l.get(name))
	return def
}

func (l *loader) integer(name string, def, lo, hi int) (int, bool) {
	n, ok := l.integer64(name, int64(def), int64(lo), int64(hi))
	return int(n), ok
}

func (l *loader) integer64(name string, def, lo, hi int64) (int64, bool) {
	s := l.get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil && n >= lo && n <= hi {
		return n, true
	}
	if hi == math.MaxInt64 || hi == math.MaxInt {
		l.fail(name, "must be an integer of at least %d, got %q", lo, s)
	} else {
		l.fail(name, "must be an integer between %d and %d, got %q", lo, hi, s)
	}
	return def, false
}

func (l *loader) duration(name string, def, lo, hi time.Duration) (time.Duration, bool) {
	s := l.get(name)
	if s == "" {
		return def, true
	}
	d, err := time.ParseDuration(s)
	if err == nil && d >= lo && d <= hi {
		return d, true
	}
	switch {
	case lo == 1 && hi == math.MaxInt64:
		l.fail(name, "must be a positive duration like %q, got %q", fmtDuration(def), s)
	case hi == math.MaxInt64:
		l.fail(name, "must be a duration of at least %s like %q, got %q", fmtDuration(lo), fmtDuration(def), s)
	default:
		l.fail(name, "must be a duration between %s and %s like %q, got %q", fmtDuration(lo), fmtDuration(hi), fmtDuration(def), s)
	}
	return def, false
}

func (l *loader) boolean(name string, def bool) bool {
	s := l.get(name)
	switch strings.ToLower(s) {
	case "":
		return def
	case "true", "1", "yes", "on":
		return true
	case "false", "0", "no", "off":
		return false
	}
	l.fail(name, "must be a boolean (true/false, 1/0, yes/no, on/off), got %q", s)
	return def
}

func (l *loader) amount(cur jobsphere.Currency, name, def string) (int64, bool) {
	s := l.get(name)
	if s == "" {
		s = def
	}
	v, err := cur.Parse(s)
	if err != nil {
		l.fail(name, "must be an amount in %s major units: %v", strings.ToUpper(cur.Code), err)
		return 0, false
	}
	return v, true
}

func (l *loader) logLevel() slog.Level {
	s := l.get("LOG_LEVEL")
	switch strings.ToLower(s) {
	case "":
		return slog.LevelInfo
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	l.fail("LOG_LEVEL", "must be one of \"debug\", \"info\", \"warn\", \"error\", got %q", s)
	return slog.LevelInfo
}

func (l *loader) publicURL(port int) string {
	const name = "PUBLIC_URL"
	s := l.get(name)
	if s == "" {
		return "http://localhost:" + strconv.Itoa(port)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil && strings.Contains(s, "@"):
		// The text may hold credentials: do not show it.
		l.fail(name, "must be an absolute http(s) URL like \"https://jobs.example.com\" (value not shown)")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		l.fail(name, "must be an absolute http(s) URL like \"https://jobs.example.com\", got %q", s)
	case u.User != nil:
		l.fail(name, "must not contain a user name or password")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		l.fail(name, "must not have a query or fragment, got %q", s)
	default:
		return strings.TrimRight(s, "/")
	}
	return ""
}

// listenAddr reads a host:port to listen on; empty stays empty.
func (l *loader) listenAddr(name string) string {
	s := l.get(name)
	if s == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(s)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		l.fail(name, "must be a host:port to listen on like \"127.0.0.1:9090\" or \":9090\", got %q", s)
		return ""
	}
	return s
}

func (l *loader) databaseURL() string {
	const name = "DATABASE_URL"
	s := l.get(name)
	if s == "" {
		return ""
	}
	// The value is never shown: it usually holds a password.
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		l.fail(name, "must be empty (embedded SQLite) or start with postgres:// or postgresql:// (value not shown)")
		return ""
	}
	if _, err := url.Parse(s); err != nil {
		l.fail(name, "is not a valid URL; percent-encode special characters in the user name and password (value not shown)")
		return ""
	}
	return s
}

func (l *loader) natsURL() string {
	const name = "NATS_URL"
	s := l.get(name)
	if s == "" {
		return ""
	}
	// No value is shown: a URL may hold a password.
	for _, e := range strings.Split(s, ",") {
		u, err := url.Parse(strings.TrimSpace(e))
		if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") {
			l.fail(name, "must be one or more comma-separated URLs like \"nats://127.0.0.1:4222\" (nats://, tls://, ws:// or wss://) (value not shown)")
			return ""
		}
	}
	return s
}

func (l *loader) corsOrigins(prod bool) []string {
	const name = "CORS_ORIGINS"
	s := l.get(name)
	if s == "" {
		if prod {
			return []string{}
		}
		return []string{"*"}
	}
	origins := []string{}
	var bad []string
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		switch o, ok := origin(e); {
		case e == "":
		case e == "*":
			origins = append(origins, e)
		case ok:
			origins = append(origins, o)
		default:
			bad = append(bad, strconv.Quote(e))
		}
	}
	if len(bad) > 0 {
		l.fail(name, "each entry must be \"*\" or an http(s) origin without path like \"https://app.example.com\", got %s", strings.Join(bad, ", "))
	}
	return origins
}

// origin returns s as a lower-cased origin, scheme://host[:port], and
// whether s is one.
func origin(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawPath != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", false
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), true
}

// jwtSecret returns JWT_SECRET, or outside production the secret kept in
// dataDir, generating it on first use. The secret is never shown in errors.
func (l *loader) jwtSecret(prod bool, dataDir string) []byte {
	const name = "JWT_SECRET"
	if s := l.get(name); s != "" {
		if len(s) < minSecretLen {
			l.fail(name, "must be at least %d bytes long, got %d bytes (value not shown)", minSecretLen, len(s))
			return nil
		}
		return []byte(s)
	}
	if prod {
		l.fail(name, "is required in production: set at least %d random bytes, e.g. from `openssl rand -hex 32`", minSecretLen)
		return nil
	}
	path := filepath.Join(dataDir, secretFileName)
	if secret, ok, exists := l.readSecret(path); exists {
		return secret
	} else if !ok {
		return nil
	}
	if len(l.errs) > 0 {
		return nil // refused anyway: write nothing
	}

	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		l.fail(name, "unset, and the data directory cannot be created to keep a generated one: %v", err)
		return nil
	}
	raw := make([]byte, minSecretLen)
	if _, err := rand.Read(raw); err != nil {
		l.fail(name, "unset, and generating one failed: %v", err)
		return nil
	}
	secret := []byte(hex.EncodeToString(raw))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first: use theirs.
		secret, _, _ = l.readSecret(path)
		return secret
	}
	if err != nil {
		l.fail(name, "unset, and the generated one cannot be saved: %v", err)
		return nil
	}
	_, err = f.Write(secret)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		l.fail(name, "unset, and the generated one cannot be saved: %v", err)
		return nil
	}
	return secret
}

// readSecret reads a secret file. exists reports whether the file exists;
// ok is false when an error was recorded.
func (l *loader) readSecret(path string) (secret []byte, ok, exists bool) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, false
	}
	if err != nil {
		l.fail("JWT_SECRET", "unset, and the saved one cannot be read: %v", err)
		return nil, false, true
	}
	b = bytes.TrimSpace(b)
	if len(b) < minSecretLen {
		l.fail("JWT_SECRET", "unset, and the saved one in %s is only %d bytes long; it needs at least %d (delete the file to generate a new one)", path, len(b), minSecretLen)
		return nil, false, true
	}
	return b, true, true
}

// fmtDuration writes d without zero trailing units: "24h", not "24h0m0s".
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func (l *loader) stripe(c *Config, prod bool) {
	c.StripeSecretKey = l.get("STRIPE_SECRET_KEY")
	c.StripePublishableKey = l.get("STRIPE_PUBLISHABLE_KEY")
	c.StripeWebhookSecret = l.get("STRIPE_WEBHOOK_SECRET")
	c.StripeConnectWebhookSecret = l.get("STRIPE_CONNECT_WEBHOOK_SECRET")
	switch {
	case c.StripeSecretKey == "" && prod:
		l.fail("STRIPE_SECRET_KEY", "required in production: the sandbox gateway is for development only")
	case c.StripeSecretKey != "" && !strings.HasPrefix(c.StripeSecretKey, "sk_") && !strings.HasPrefix(c.StripeSecretKey, "rk_"):
		l.fail("STRIPE_SECRET_KEY", "must start with sk_ or rk_ (value not shown)")
	}
	if c.StripeSecretKey != "" {
		if !strings.HasPrefix(c.StripePublishableKey, "pk_") {
			l.fail("STRIPE_PUBLISHABLE_KEY", "required with STRIPE_SECRET_KEY and must start with pk_")
		}
		if !strings.HasPrefix(c.StripeWebhookSecret, "whsec_") {
			l.fail("STRIPE_WEBHOOK_SECRET", "required with STRIPE_SECRET_KEY and must start with whsec_ (value not shown)")
		}
	}
	c.StripeAPIBase = strings.TrimRight(l.get("STRIPE_API_BASE"), "/")
	if c.StripeAPIBase == "" {
		c.StripeAPIBase = "https://api.stripe.com"
	} else if u, err := url.Parse(c.StripeAPIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.fail("STRIPE_API_BASE", "must be an absolute http(s) URL, got %q", c.StripeAPIBase)
	}
	c.DepositSuccessURL = l.returnURL("DEPOSIT_SUCCESS_URL", c.PublicURL+"/payments/return?result=success")
	c.DepositCancelURL = l.returnURL("DEPOSIT_CANCEL_URL", c.PublicURL+"/payments/return?result=cancelled")
}

func (l *loader) returnURL(name, def string) string {
	s := l.get(name)
	if s == "" {
		return def
	}
	if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.fail(name, "must be an absolute http(s) URL, got %q", s)
	}
	return s
}

// tracing reads the OpenTelemetry variables the server acts on itself
// (see Config.TracesEndpoint).
func (l *loader) tracing(c *Config) {
	c.ServiceName = l.get("OTEL_SERVICE_NAME")
	if c.ServiceName == "" {
		c.ServiceName = "jobsphere"
	}
	name, endpoint := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", l.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		name, endpoint = "OTEL_EXPORTER_OTLP_ENDPOINT", l.get("OTEL_EXPORTER_OTLP_ENDPOINT")
		if endpoint != "" {
			endpoint = strings.TrimRight(endpoint, "/") + "/v1/traces"
		}
	}
	// The other variables matter only when there is somewhere to send
	// spans: a deployment's OpenTelemetry settings meant for other
	// services do not stop this one.
	if endpoint == "" || l.boolean("OTEL_SDK_DISABLED", false) {
		return
	}
	if l.oneOf("OTEL_TRACES_EXPORTER", "otlp", "otlp", "none") == "none" {
		return
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		if p := l.get(name); p != "" && p != "http/protobuf" {
			l.fail(name, "must be \"http/protobuf\", the only protocol this server exports with, got %q", p)
		}
	}
	// The URL is never shown: collectors' URLs may carry a token.
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.fail(name, "must be an absolute http(s) URL like \"http://localhost:4318\" (value not shown)")
		return
	}
	c.TracesEndpoint = endpoint
}
