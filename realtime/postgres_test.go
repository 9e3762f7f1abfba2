package realtime_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq"

	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/realtime"
)

func TestListenerDSN(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?fallback_application_name=" + realtime.ListenerApplicationName + "&sslmode=disable"},
		{"postgres://u@h/db?fallback_application_name=x", "postgres://u@h/db?fallback_application_name=x"},
		{"host=h dbname=db", "host=h dbname=db fallback_application_name=" + realtime.ListenerApplicationName},
		{"", "fallback_application_name=" + realtime.ListenerApplicationName},
	} {
		if got := realtime.ListenerDSN(tc.in); got != tc.want {
			t.Errorf("ListenerDSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// replica is one simulated server process: its own pool and its own broker.
type replica struct {
	db     *sql.DB
	broker *realtime.Postgres
	logs   *logBuffer
}

func newReplica(t *testing.T, dsn string) *replica {
	t.Helper()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := realtime.NewPostgres(dsn, db, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close broker: %v", err)
		}
	})
	return &replica{db: db, broker: b, logs: logs}
}

func withParam(t *testing.T, dsn, key, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestPostgresAcrossReplicas(t *testing.T) {
	dbtest.RequirePostgres(t)
	dsn := dbtest.FreshPostgres(t)
	ctx := context.Background()
	a, b := newReplica(t, dsn), newReplica(t, dsn)
	client := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, b.db)))

	onA := subscribe(t, a.broker, "user:a")
	onB := subscribe(t, b.broker, "user:a")
	otherOnA := subscribe(t, a.broker, "user:other")

	// Commit: delivered on both replicas, in order, after the commit.
	tx, err := client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if err := b.broker.PublishTx(ctx, tx, ev("user:a", "DEPOSIT_SUCCEEDED", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Sent outside the transaction, this one overtakes the transaction's.
	publish(t, b.broker, ev("user:a", "BEFORE_COMMIT", 0))
	for _, ch := range []<-chan realtime.Event{onA, onB} {
		recvWant(t, ch, ev("user:a", "BEFORE_COMMIT", 0))
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan realtime.Event{onA, onB} {
		recvWant(t, ch, ev("user:a", "DEPOSIT_SUCCEEDED", 1))
		recvWant(t, ch, ev("user:a", "DEPOSIT_SUCCEEDED", 2))
	}

	// Rollback: nothing, as the marker published after it shows.
	tx, err = client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.broker.PublishTx(ctx, tx, ev("user:a", "DEPOSIT_SUCCEEDED", 3)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	publish(t, b.broker, ev("user:a", "AFTER_ROLLBACK", 0))
	for _, ch := range []<-chan realtime.Event{onA, onB} {
		recvWant(t, ch, ev("user:a", "AFTER_ROLLBACK", 0))
	}

	// An invalid event is refused before anything is sent: the transaction
	// stays usable.
	tx, err = client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	big := realtime.Event{Topic: "user:a", Kind: "K", IDs: map[string]string{"x": strings.Repeat("a", 8000)}}
	if err := b.broker.PublishTx(ctx, tx, big); !errors.Is(err, realtime.ErrPayloadTooLarge) {
		t.Fatalf("PublishTx(big) = %v, want ErrPayloadTooLarge", err)
	}
	if err := b.broker.PublishTx(ctx, tx, ev("user:a", "AFTER_REFUSAL", 0)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	recvWant(t, onA, ev("user:a", "AFTER_REFUSAL", 0))

	// A foreign, malformed notification on the channel is logged and skipped.
	if _, err := b.db.Exec(`SELECT pg_notify('jobsphere_events', 'not json')`); err != nil {
		t.Fatal(err)
	}
	publish(t, b.broker, ev("user:a", "AFTER_GARBAGE", 0))
	recvWant(t, onA, ev("user:a", "AFTER_GARBAGE", 0))
	if !strings.Contains(a.logs.String(), "malformed notification") {
		t.Errorf("malformed notification not logged:\n%s", a.logs)
	}

	// Another topic saw none of it.
	requireEmpty(t, otherOnA)
}

func TestPostgresReconnect(t *testing.T) {
	dbtest.RequirePostgres(t)
	dsn := dbtest.FreshPostgres(t)
	ctx := context.Background()
	const appName = "jobsphere-realtime-test-a"
	a := newReplica(t, withParam(t, dsn, "application_name", appName))
	b := newReplica(t, dsn)

	onA := subscribe(t, a.broker, "user:a")
	otherOnA := subscribe(t, a.broker, "user:other")
	publish(t, b.broker, ev("user:a", "K", 1))
	recvWant(t, onA, ev("user:a", "K", 1))

	// Kill replica A's listener connection, and only that one.
	var killed int
	err := b.db.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, appName).Scan(&killed)
	if err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d backends, want A's listener alone", killed)
	}

	// Once reconnected, every subscriber is told to resync...
	recvWant(t, onA, realtime.Event{Topic: "user:a", Kind: realtime.KindResync})
	recvWant(t, otherOnA, realtime.Event{Topic: "user:other", Kind: realtime.KindResync})
	// ...and events flow again.
	publish(t, b.broker, ev("user:a", "K", 2))
	recvWant(t, onA, ev("user:a", "K", 2))
	if logs := a.logs.String(); !strings.Contains(logs, "level=WARN msg=\"realtime listener reconnected") {
		t.Errorf("reconnect not logged at Warn:\n%s", logs)
	}
}

func TestPostgresClose(t *testing.T) {
	dbtest.RequirePostgres(t)
	dsn := dbtest.FreshPostgres(t)
	base := runtime.NumGoroutine()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := realtime.NewPostgres(dsn, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch := subscribe(t, p, "user:a")
	ctx, cancel := context.WithCancel(context.Background())
	ch2, err := p.Subscribe(ctx, "user:b")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitClosed(t, ch2)
	if n := p.TopicCount(); n != 1 {
		t.Fatalf("TopicCount() = %d, want 1", n)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ch)
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := p.Subscribe(context.Background(), "user:a"); !errors.Is(err, realtime.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
	}
	db.Close()
	settleGoroutines(t, base)
}

func TestPostgresUnreachable(t *testing.T) {
	dbtest.RequirePostgres(t)
	defer realtime.SetListenTimeout(500 * time.Millisecond)()
	base := runtime.NumGoroutine()
	// A database that doesn't exist: every connection attempt fails.
	u, err := url.Parse(dbtest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/jobsphere_no_such_db"
	db, err := sql.Open("postgres", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	_, err = realtime.NewPostgres(u.String(), db, nil)
	if err == nil || !strings.Contains(err.Error(), "jobsphere_no_such_db") {
		t.Fatalf("NewPostgres = %v, want an error naming the missing database", err)
	}
	if d := time.Since(start); d > guard {
		t.Fatalf("NewPostgres took %s", d)
	}
	db.Close()
	settleGoroutines(t, base)
}
