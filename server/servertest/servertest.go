// Package servertest starts the real server for tests: in-process, on a
// random port, against a fresh PostgreSQL database or a temporary SQLite
// file, with a small GraphQL client for HTTP and websocket.
package servertest

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobsphere/jobsphere/app"
	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/server"
)

// Database names the two databases the suite runs on (package dbtest's).
type Database = dbtest.Database

// The databases.
const (
	SQLite   = dbtest.SQLite
	Postgres = dbtest.Postgres
)

// EachDatabase runs fn as a subtest on SQLite and on PostgreSQL (see
// dbtest.EachDatabase).
func EachDatabase(t *testing.T, fn func(t *testing.T, db Database)) {
	t.Helper()
	dbtest.EachDatabase(t, fn)
}

// RequirePostgres skips (or, in CI, fails) the test when PostgreSQL is
// not reachable.
func RequirePostgres(t testing.TB) { t.Helper(); dbtest.RequirePostgres(t) }

// Server is a running server under test.
type Server struct {
	URL string
	// MetricsURL is where /metrics is served when METRICS_ADDR is set.
	MetricsURL string
	App        *app.App
	Logs       *SyncBuffer // every log line the server wrote
	closed     bool
}

// Env returns the environment a test server starts with; tests add or
// override variables before passing it to Start.
func Env(t testing.TB, db Database) map[string]string {
	t.Helper()
	env := map[string]string{
		"APP_ENV":      "test",
		"DATA_DIR":     t.TempDir(),
		"JWT_SECRET":   rand.Text() + rand.Text(),
		"BCRYPT_COST":  "4", // the minimum: hashing is not what these tests measure
		"AUTO_MIGRATE": "true",
		"CORS_ORIGINS": AllowedOrigin,
		"LOG_LEVEL":    "debug",
		// Every test client comes from 127.0.0.1: the per-address limits
		// are for the tests that set them (server/ratelimit_test.go).
		"REGISTER_LIMIT_PER_ADDRESS": "0",
		"LOGIN_LIMIT_PER_ADDRESS":    "0",
	}
	if db == Postgres {
		env["DATABASE_URL"] = dbtest.FreshPostgres(t)
	}
	return env
}

// AllowedOrigin is the one browser origin test servers allow.
const AllowedOrigin = "http://app.example.test"

// Start runs a server with the given environment until the test ends.
func Start(t testing.TB, env map[string]string) *Server {
	t.Helper()
	// Listen first, so the links the server hands out (PUBLIC_URL) point
	// at the port it really has.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if env["PUBLIC_URL"] == "" {
		env["PUBLIC_URL"] = "http://" + ln.Addr().String()
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &SyncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx := context.Background()
	a, err := app.Open(ctx, cfg, logger)
	if err != nil {
		t.Fatalf("open app: %v", err)
	}
	connCtx, closeConns := context.WithCancel(ctx)
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: a.NewServer()}}
	ts.Config.BaseContext = func(net.Listener) context.Context { return connCtx }
	ts.Config.RegisterOnShutdown(closeConns)
	ts.Start()
	s := &Server{URL: ts.URL, App: a, Logs: logs}
	// As `jobsphere serve` does: /metrics on an address of its own.
	metrics := server.NewMetricsServer(a.Registry, cfg.MetricsToken)
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			t.Fatalf("METRICS_ADDR: %v", err)
		}
		s.MetricsURL = "http://" + mln.Addr().String()
		go func() { _ = metrics.Serve(mln) }() // ErrServerClosed once the test ends
	}
	t.Cleanup(func() {
		closeConns()
		_ = metrics.Close()
		ts.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close app: %v", err)
		}
		RequireNoSecretsLogged(t, logs.String(), env)
	})
	return s
}

// RequireNoSecretsLogged fails the test if the log holds a password hash,
// the helpers' password or one of the secrets of env. Every test server
// runs it on its whole log when it stops, so the whole suite's logs are
// checked.
func RequireNoSecretsLogged(t testing.TB, log string, env map[string]string) {
	t.Helper()
	forbidden := map[string]string{"bcrypt hash": "$2a$", "bcrypt hash ($2b$)": "$2b$", "the test password": TestPassword}
	for _, k := range []string{"JWT_SECRET", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_CONNECT_WEBHOOK_SECRET", "CLOUDINARY_URL", "METRICS_TOKEN"} {
		if v := env[k]; len(v) >= 8 {
			forbidden[k] = v
		}
	}
	for what, s := range forbidden {
		if strings.Contains(log, s) {
			t.Errorf("the server's log holds %s", what)
		}
	}
}

// New starts a server on the given database with the default test
// environment.
func New(t testing.TB, db Database) *Server {
	t.Helper()
	return Start(t, Env(t, db))
}

// SyncBuffer is a bytes buffer safe for the server's concurrent writes.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Get performs a GET against the server.
func (s *Server) Get(t testing.TB, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// AwayFromWindowEdge waits, when the rate limiter's current fixed window
// (of length window) ends within need, until the next one starts: a test
// that counts requests against a limit must not see its count reset by a
// window rolling over in the middle of it. It waits at most need.
func AwayFromWindowEdge(t testing.TB, window, need time.Duration) {
	t.Helper()
	now := time.Now()
	if left := now.Truncate(window).Add(window).Sub(now); left < need {
		time.Sleep(left + 10*time.Millisecond)
	}
}
