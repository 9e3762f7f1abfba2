package realtime_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq"
	_ "modernc.org/sqlite"

	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/realtime"
)

// guard bounds every wait: the tests never sleep to synchronise, they wait
// on channels, and guard only turns a hang into a failure.
const guard = 5 * time.Second

func ev(topic, kind string, n int) realtime.Event {
	return realtime.Event{Topic: topic, Kind: kind, IDs: map[string]string{"n": fmt.Sprint(n)}}
}

// recv returns the next event on ch, failing if none arrives within guard or
// ch is closed.
func recv(t *testing.T, ch <-chan realtime.Event) realtime.Event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed, want an event")
		}
		return e
	case <-time.After(guard):
		t.Fatalf("no event within %s", guard)
	}
	panic("unreachable")
}

// recvWant checks that the next event on ch is want.
func recvWant(t *testing.T, ch <-chan realtime.Event, want realtime.Event) {
	t.Helper()
	if got := recv(t, ch); !equal(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func equal(a, b realtime.Event) bool {
	if a.Topic != b.Topic || a.Kind != b.Kind || len(a.IDs) != len(b.IDs) {
		return false
	}
	for k, v := range a.IDs {
		if b.IDs[k] != v {
			return false
		}
	}
	return true
}

// requireEmpty checks that nothing is waiting on ch. Memory publishes
// synchronously, so for it "empty now" means "nothing was delivered".
func requireEmpty(t *testing.T, ch <-chan realtime.Event) {
	t.Helper()
	select {
	case e, ok := <-ch:
		t.Fatalf("want nothing, got %+v (open=%v)", e, ok)
	default:
	}
}

// waitClosed drains ch until it is closed.
func waitClosed(t *testing.T, ch <-chan realtime.Event) {
	t.Helper()
	deadline := time.After(guard)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("subscription not closed within %s", guard)
		}
	}
}

func publish(t *testing.T, b realtime.Broker, e realtime.Event) {
	t.Helper()
	if err := b.Publish(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

func subscribe(t *testing.T, b realtime.Broker, topic string) <-chan realtime.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := b.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func newMemory(t *testing.T) *realtime.Memory {
	m := realtime.NewMemory()
	t.Cleanup(func() { m.Close() })
	return m
}

func TestMemoryTopics(t *testing.T) {
	m := newMemory(t)
	a := subscribe(t, m, "user:a")
	a2 := subscribe(t, m, "user:a")
	b := subscribe(t, m, "user:b")

	publish(t, m, ev("user:a", "WALLET_UPDATED", 1))
	publish(t, m, ev("user:b", "WALLET_UPDATED", 2))
	publish(t, m, ev("user:c", "WALLET_UPDATED", 3)) // nobody listens: a no-op
	publish(t, m, ev("user:a", "DEPOSIT_SUCCEEDED", 4))

	for _, ch := range []<-chan realtime.Event{a, a2} {
		recvWant(t, ch, ev("user:a", "WALLET_UPDATED", 1))
		recvWant(t, ch, ev("user:a", "DEPOSIT_SUCCEEDED", 4))
		requireEmpty(t, ch)
	}
	recvWant(t, b, ev("user:b", "WALLET_UPDATED", 2))
	requireEmpty(t, b)
	if d := m.Dropped(); d != 0 {
		t.Errorf("Dropped() = %d, want 0", d)
	}
}

func TestMemoryPublisherMayReuseIDs(t *testing.T) {
	m := newMemory(t)
	ch := subscribe(t, m, "user:a")
	ids := map[string]string{"deposit": "dep_1"}
	if err := m.Publish(context.Background(), realtime.Event{Topic: "user:a", Kind: "K", IDs: ids}); err != nil {
		t.Fatal(err)
	}
	ids["deposit"] = "dep_2"
	if got := recv(t, ch); got.IDs["deposit"] != "dep_1" {
		t.Fatalf("event changed after publishing: %+v", got)
	}
}

func TestMemoryRejectsInvalidEvents(t *testing.T) {
	m := newMemory(t)
	ctx := context.Background()
	for _, tc := range []struct {
		ev   realtime.Event
		want error
	}{
		{realtime.Event{Kind: "K"}, realtime.ErrNoTopic},
		{realtime.Event{Topic: "t"}, realtime.ErrNoKind},
		{realtime.Event{Topic: "t", Kind: "K", IDs: map[string]string{"x": strings.Repeat("a", 8000)}}, realtime.ErrPayloadTooLarge},
	} {
		if err := m.Publish(ctx, tc.ev); !errors.Is(err, tc.want) {
			t.Errorf("Publish(%.40v) = %v, want %v", tc.ev, err, tc.want)
		}
	}
	if _, err := m.Subscribe(ctx, ""); !errors.Is(err, realtime.ErrNoTopic) {
		t.Errorf("Subscribe(\"\") = %v, want ErrNoTopic", err)
	}
}

// openSQLite opens an ent client on a fresh SQLite file with the schema.
func openSQLite(t *testing.T) *ent.Client {
	t.Helper()
	path := filepath.Join(t.TempDir(), "realtime.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	client := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.SQLite, db)))
	t.Cleanup(func() { client.Close() })
	if err := client.Schema.Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	return client
}

func TestMemoryPublishTx(t *testing.T) {
	ctx := context.Background()
	client := openSQLite(t)
	m := newMemory(t)
	ch := subscribe(t, m, "user:a")

	t.Run("commit", func(t *testing.T) {
		tx, err := client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			if err := m.PublishTx(ctx, tx, ev("user:a", "DEPOSIT_SUCCEEDED", i)); err != nil {
				t.Fatal(err)
			}
		}
		requireEmpty(t, ch) // nothing before the commit
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ { // all of them, in order
			recvWant(t, ch, ev("user:a", "DEPOSIT_SUCCEEDED", i))
		}
		requireEmpty(t, ch)
	})

	t.Run("rollback", func(t *testing.T) {
		tx, err := client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.PublishTx(ctx, tx, ev("user:a", "DEPOSIT_SUCCEEDED", 4)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		requireEmpty(t, ch)
		// A later commit of another transaction doesn't carry it along.
		tx, err = client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.PublishTx(ctx, tx, ev("user:a", "DEPOSIT_SUCCEEDED", 5)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		recvWant(t, ch, ev("user:a", "DEPOSIT_SUCCEEDED", 5))
		requireEmpty(t, ch)
	})

	t.Run("failed commit", func(t *testing.T) {
		tx, err := client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.PublishTx(ctx, tx, ev("user:a", "DEPOSIT_SUCCEEDED", 6)); err != nil {
			t.Fatal(err)
		}
		// A hook registered after ours runs inside it and fails the commit.
		tx.OnCommit(func(ent.Committer) ent.Committer {
			return ent.CommitFunc(func(context.Context, *ent.Tx) error { return errors.New("commit refused") })
		})
		if err := tx.Commit(); err == nil {
			t.Fatal("commit succeeded, want the hook's error")
		}
		tx.Rollback()
		requireEmpty(t, ch)
	})
}

func TestMemorySubscribeCancelled(t *testing.T) {
	m := newMemory(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ch, err := m.Subscribe(ctx, "user:a")
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ch)
	if n := m.TopicCount(); n != 0 {
		t.Fatalf("TopicCount() = %d, want 0", n)
	}
}

func TestMemoryCancelClosesChannel(t *testing.T) {
	m := newMemory(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := m.Subscribe(ctx, "user:a")
	if err != nil {
		t.Fatal(err)
	}
	if n := m.Subscriptions(); n != 1 {
		t.Fatalf("Subscriptions() = %d, want 1", n)
	}
	publish(t, m, ev("user:a", "K", 1))
	cancel()
	waitClosed(t, ch) // buffered events may still be read first
	if n, live := m.TopicCount(), m.Subscriptions(); n != 0 || live != 0 {
		t.Fatalf("TopicCount() = %d, Subscriptions() = %d, want 0 and 0", n, live)
	}
	publish(t, m, ev("user:a", "K", 2)) // no subscribers left: a no-op
}

// settleGoroutines waits up to 2 s for the goroutine count to come back to
// at most base, polling.
func settleGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMemoryNoLeaks(t *testing.T) {
	m := newMemory(t)
	keep := subscribe(t, m, "user:keep") // an unrelated long-lived subscription
	base := runtime.NumGoroutine()

	for i := range 1000 {
		topic := fmt.Sprintf("user:%d", i%7)
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := m.Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		publish(t, m, ev(topic, "K", i))
		recvWant(t, ch, ev(topic, "K", i))
		cancel()
		waitClosed(t, ch)
	}

	settleGoroutines(t, base)
	if n, live := m.TopicCount(), m.Subscriptions(); n != 1 || live != 1 {
		t.Fatalf("TopicCount() = %d, Subscriptions() = %d, want 1 and 1 (the kept subscription)", n, live)
	}
	publish(t, m, ev("user:keep", "K", 0))
	recvWant(t, keep, ev("user:keep", "K", 0))
}

func TestMemoryUnsubscribeRacesPublish(t *testing.T) {
	m := newMemory(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m.Publish(context.Background(), ev("user:race", "K", i))
			}
		})
	}
	for range 500 {
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := m.Subscribe(ctx, "user:race")
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		waitClosed(t, ch)
	}
	close(stop)
	wg.Wait()
	if n := m.TopicCount(); n != 0 {
		t.Fatalf("TopicCount() = %d, want 0", n)
	}
}

func TestMemorySlowSubscriber(t *testing.T) {
	m := newMemory(t)
	slow := subscribe(t, m, "user:a") // never read until the end
	fast := subscribe(t, m, "user:a")

	const n = 1000
	published := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(published)
		for i := range n {
			if err := m.Publish(context.Background(), ev("user:a", "K", i)); err != nil {
				t.Error(err)
				return
			}
			<-read // in step with the fast reader, so its own buffer never fills
		}
	}()
	// Each event reaches the fast subscriber (within the guard), although
	// the slow one's buffer has long been full.
	for i := range n {
		recvWant(t, fast, ev("user:a", "K", i))
		read <- struct{}{}
	}
	select {
	case <-published:
	case <-time.After(guard):
		t.Fatal("publisher blocked")
	}
	if d, want := m.Dropped(), uint64(n-realtime.SubscriptionBuffer); d != want {
		t.Fatalf("Dropped() = %d, want %d", d, want)
	}

	// The slow subscriber has the first events, then, once it has room, a
	// RESYNC before the next event.
	for i := range realtime.SubscriptionBuffer {
		recvWant(t, slow, ev("user:a", "K", i))
	}
	requireEmpty(t, slow)
	publish(t, m, ev("user:a", "K", n))
	recvWant(t, slow, realtime.Event{Topic: "user:a", Kind: realtime.KindResync})
	recvWant(t, slow, ev("user:a", "K", n))
	recvWant(t, fast, ev("user:a", "K", n))
}

func TestMemoryClose(t *testing.T) {
	m := realtime.NewMemory()
	a := subscribe(t, m, "user:a")
	b := subscribe(t, m, "user:b")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, a)
	waitClosed(t, b)
	if _, err := m.Subscribe(context.Background(), "user:a"); !errors.Is(err, realtime.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
	}
	publish(t, m, ev("user:a", "K", 1)) // a no-op
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

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

// logBuffer collects a broker's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
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
