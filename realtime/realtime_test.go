package realtime_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "modernc.org/sqlite"

	"github.com/jobsphere/jobsphere/app/database/dbtest"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/realtime"
	"github.com/jobsphere/jobsphere/realtime/natstest"
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

// testRun makes this run's topics its own: the NATS server is shared, with
// other test processes too.
var testRun = strings.ToLower(rand.Text()[:10])

// topic is a user topic of this test run.
func topic(name string) string { return "user:t" + testRun + "_" + name }

// markers numbers the events requireNothingMore publishes.
var markers atomic.Int64

// requireNothingMore checks that nothing more is on its way to the
// subscriptions chs of topic on b: a marker published now is the next
// event on each. A broker delivers the events of one process in the order
// they were published, so anything published before would come first.
func requireNothingMore(t *testing.T, b realtime.Broker, topic string, chs ...<-chan realtime.Event) {
	t.Helper()
	marker := ev(topic, "MARKER", int(markers.Add(1)))
	publish(t, b, marker)
	for _, ch := range chs {
		recvWant(t, ch, marker)
	}
}

// testBroker is a Broker with what the tests look into.
type testBroker interface {
	realtime.Broker
	TopicCount() int
	Dropped() uint64
}

// eachBroker runs fn as a subtest on each Broker: Memory, Postgres on a
// fresh database and NATS on the shared server. Where PostgreSQL or NATS
// does not answer, its subtest is skipped with a message saying so,
// except under CI=true, where it fails.
func eachBroker(t *testing.T, fn func(t *testing.T, b testBroker)) {
	t.Helper()
	for _, kind := range []struct {
		name string
		open func(t *testing.T) testBroker
	}{
		{"memory", func(t *testing.T) testBroker { return newMemory(t) }},
		{"postgres", func(t *testing.T) testBroker { return newReplica(t, dbtest.FreshPostgres(t)).broker }},
		{"nats", func(t *testing.T) testBroker { return newNATS(t, natstest.Require(t)).broker }},
	} {
		t.Run(kind.name, func(t *testing.T) { fn(t, kind.open(t)) })
	}
}

func TestBrokerTopics(t *testing.T) {
	eachBroker(t, func(t *testing.T, b testBroker) {
		ta, tb := topic("a"), topic("b")
		a := subscribe(t, b, ta)
		a2 := subscribe(t, b, ta)
		bs := subscribe(t, b, tb)

		publish(t, b, ev(ta, "WALLET_UPDATED", 1))
		publish(t, b, ev(tb, "WALLET_UPDATED", 2))
		publish(t, b, ev(topic("c"), "WALLET_UPDATED", 3)) // nobody listens: a no-op
		publish(t, b, ev(ta, "DEPOSIT_SUCCEEDED", 4))

		for _, ch := range []<-chan realtime.Event{a, a2} {
			recvWant(t, ch, ev(ta, "WALLET_UPDATED", 1))
			recvWant(t, ch, ev(ta, "DEPOSIT_SUCCEEDED", 4))
		}
		recvWant(t, bs, ev(tb, "WALLET_UPDATED", 2))
		requireNothingMore(t, b, ta, a, a2)
		requireNothingMore(t, b, tb, bs)
		if d := b.Dropped(); d != 0 {
			t.Errorf("Dropped() = %d, want 0", d)
		}
	})
}

func TestBrokerPublisherMayReuseIDs(t *testing.T) {
	eachBroker(t, func(t *testing.T, b testBroker) {
		ch := subscribe(t, b, topic("a"))
		ids := map[string]string{"deposit": "dep_1"}
		if err := b.Publish(context.Background(), realtime.Event{Topic: topic("a"), Kind: "K", IDs: ids}); err != nil {
			t.Fatal(err)
		}
		ids["deposit"] = "dep_2"
		if got := recv(t, ch); got.IDs["deposit"] != "dep_1" {
			t.Fatalf("event changed after publishing: %+v", got)
		}
	})
}

func TestBrokerRejectsInvalidEvents(t *testing.T) {
	client := openSQLite(t)
	eachBroker(t, func(t *testing.T, b testBroker) {
		ctx := context.Background()
		tx, err := client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		for _, tc := range []struct {
			ev   realtime.Event
			want error
		}{
			{realtime.Event{Kind: "K"}, realtime.ErrNoTopic},
			{realtime.Event{Topic: "t"}, realtime.ErrNoKind},
			{realtime.Event{Topic: "t", Kind: "K", IDs: map[string]string{"x": strings.Repeat("a", 8000)}}, realtime.ErrPayloadTooLarge},
		} {
			if err := b.Publish(ctx, tc.ev); !errors.Is(err, tc.want) {
				t.Errorf("Publish(%.40v) = %v, want %v", tc.ev, err, tc.want)
			}
			if err := b.PublishTx(ctx, tx, tc.ev); !errors.Is(err, tc.want) {
				t.Errorf("PublishTx(%.40v) = %v, want %v", tc.ev, err, tc.want)
			}
		}
		if _, err := b.Subscribe(ctx, ""); !errors.Is(err, realtime.ErrNoTopic) {
			t.Errorf("Subscribe(\"\") = %v, want ErrNoTopic", err)
		}
	})
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

// txWith begins a transaction on client in which b publishes evs.
func txWith(t *testing.T, client *ent.Client, b realtime.Broker, evs ...realtime.Event) *ent.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if err := b.PublishTx(ctx, tx, e); err != nil {
			tx.Rollback()
			t.Fatal(err)
		}
	}
	return tx
}

// commit commits tx.
func commit(t *testing.T, tx *ent.Tx) {
	t.Helper()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestBrokerPublishTx(t *testing.T) {
	client := openSQLite(t)
	eachBroker(t, func(t *testing.T, b testBroker) {
		ta := topic("a")
		ch := subscribe(t, b, ta)

		t.Run("commit", func(t *testing.T) {
			tx := txWith(t, client, b, ev(ta, "DEPOSIT_SUCCEEDED", 1), ev(ta, "DEPOSIT_SUCCEEDED", 2), ev(ta, "DEPOSIT_SUCCEEDED", 3))
			requireNothingMore(t, b, ta, ch) // nothing before the commit
			commit(t, tx)
			for i := 1; i <= 3; i++ { // all of them, in order
				recvWant(t, ch, ev(ta, "DEPOSIT_SUCCEEDED", i))
			}
			requireNothingMore(t, b, ta, ch)
		})

		t.Run("rollback", func(t *testing.T) {
			tx := txWith(t, client, b, ev(ta, "DEPOSIT_SUCCEEDED", 4))
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			requireNothingMore(t, b, ta, ch)
			// A later commit of another transaction doesn't carry it along.
			commit(t, txWith(t, client, b, ev(ta, "DEPOSIT_SUCCEEDED", 5)))
			recvWant(t, ch, ev(ta, "DEPOSIT_SUCCEEDED", 5))
			requireNothingMore(t, b, ta, ch)
		})

		t.Run("failed commit", func(t *testing.T) {
			tx := txWith(t, client, b, ev(ta, "DEPOSIT_SUCCEEDED", 6))
			// A hook registered after ours runs inside it and fails the commit.
			tx.OnCommit(func(ent.Committer) ent.Committer {
				return ent.CommitFunc(func(context.Context, *ent.Tx) error { return errors.New("commit refused") })
			})
			if err := tx.Commit(); err == nil {
				t.Fatal("commit succeeded, want the hook's error")
			}
			tx.Rollback()
			requireNothingMore(t, b, ta, ch)
		})
	})
}

func TestBrokerSubscribeCancelled(t *testing.T) {
	eachBroker(t, func(t *testing.T, b testBroker) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ch, err := b.Subscribe(ctx, topic("a"))
		if err != nil {
			t.Fatal(err)
		}
		waitClosed(t, ch)
		if n := b.TopicCount(); n != 0 {
			t.Fatalf("TopicCount() = %d, want 0", n)
		}
	})
}

func TestBrokerCancelClosesChannel(t *testing.T) {
	eachBroker(t, func(t *testing.T, b testBroker) {
		ta := topic("a")
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := b.Subscribe(ctx, ta)
		if err != nil {
			t.Fatal(err)
		}
		if n := b.Subscriptions(); n != 1 {
			t.Fatalf("Subscriptions() = %d, want 1", n)
		}
		publish(t, b, ev(ta, "K", 1))
		cancel()
		waitClosed(t, ch) // the event may still be read first
		if n, live := b.TopicCount(), b.Subscriptions(); n != 0 || live != 0 {
			t.Fatalf("TopicCount() = %d, Subscriptions() = %d, want 0 and 0", n, live)
		}
		publish(t, b, ev(ta, "K", 2)) // no subscribers left: a no-op
	})
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

func TestBrokerNoLeaks(t *testing.T) {
	eachBroker(t, func(t *testing.T, b testBroker) {
		keep := subscribe(t, b, topic("keep")) // an unrelated long-lived subscription
		base := runtime.NumGoroutine()

		for i := range 1000 {
			tp := topic(fmt.Sprint(i % 7))
			ctx, cancel := context.WithCancel(context.Background())
			ch, err := b.Subscribe(ctx, tp)
			if err != nil {
				t.Fatal(err)
			}
			publish(t, b, ev(tp, "K", i))
			recvWant(t, ch, ev(tp, "K", i))
			cancel()
			waitClosed(t, ch)
		}

		settleGoroutines(t, base)
		if n, live := b.TopicCount(), b.Subscriptions(); n != 1 || live != 1 {
			t.Fatalf("TopicCount() = %d, Subscriptions() = %d, want 1 and 1 (the kept subscription)", n, live)
		}
		if n, ok := b.(*realtime.NATS); ok {
			if subjects := n.SubjectCount(); subjects != 1 {
				t.Fatalf("subscribed to %d NATS subjects, want 1 (the kept subscription's)", subjects)
			}
		}
		publish(t, b, ev(topic("keep"), "K", 0))
		recvWant(t, keep, ev(topic("keep"), "K", 0))
	})
}

// TestBrokerSubscribeRaces: subscribers of one topic come and go, four at
// once, while events are published to it; the broker ends with nothing
// left of them and a new subscriber gets the events published after it
// (one of the markers sent until one arrives).
func TestBrokerSubscribeRaces(t *testing.T) {
	eachBroker(t, func(t *testing.T, b testBroker) {
		tr := topic("race")
		stop := make(chan struct{})
		var publishers, subscribers sync.WaitGroup
		for range 4 {
			publishers.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					b.Publish(context.Background(), ev(tr, "K", i))
				}
			})
		}
		for range 4 {
			subscribers.Go(func() {
				for range 100 {
					ctx, cancel := context.WithCancel(context.Background())
					ch, err := b.Subscribe(ctx, tr)
					if err != nil {
						cancel()
						t.Error(err)
						return
					}
					cancel()
					for range ch { // until closed
					}
				}
			})
		}
		subscribers.Wait()
		close(stop)
		publishers.Wait()
		if n, live := b.TopicCount(), b.Subscriptions(); n != 0 || live != 0 {
			t.Fatalf("TopicCount() = %d, Subscriptions() = %d, want 0 and 0", n, live)
		}
		ch := subscribe(t, b, tr)
		// The publishers' last events may still be on their way, more than
		// the subscription holds: then the marker may be dropped, with a
		// RESYNC after it (see Receiver; on NATS, also when the replica's
		// inbox overflows). So a marker goes out every 100 ms until one
		// arrives.
		for marker := 0; ; marker++ {
			if marker > 100 {
				t.Fatal("no marker arrived in 100 tries")
			}
			publish(t, b, ev(tr, "MARKER", marker))
			if receivedMarker(t, ch, 100*time.Millisecond) {
				break
			}
		}
	})
}

// receivedMarker reads ch until a MARKER event arrives (true) or nothing
// has come for wait (false), failing on anything but the publishers' K
// events and RESYNCs.
func receivedMarker(t *testing.T, ch <-chan realtime.Event, wait time.Duration) bool {
	t.Helper()
	for {
		select {
		case got, ok := <-ch:
			switch {
			case !ok:
				t.Fatal("subscription closed, want events")
			case got.Kind == "MARKER":
				return true
			case got.Kind != "K" && got.Kind != realtime.KindResync:
				t.Fatalf("got %+v, want the publishers' events, RESYNCs and a marker", got)
			}
		case <-time.After(wait):
			return false
		}
	}
}

func TestBrokerClose(t *testing.T) {
	eachBroker(t, func(t *testing.T, b testBroker) {
		a := subscribe(t, b, topic("a"))
		bs := subscribe(t, b, topic("b"))
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, a)
		waitClosed(t, bs)
		if _, err := b.Subscribe(context.Background(), topic("a")); !errors.Is(err, realtime.ErrClosed) {
			t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
		}
		_ = b.Publish(context.Background(), ev(topic("a"), "K", 1)) // may fail; must not block
		if err := b.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
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

	// The slow subscriber has the first events, then a RESYNC for those it
	// lost, and then, with room again, the next event alone.
	for i := range realtime.SubscriptionBuffer {
		recvWant(t, slow, ev("user:a", "K", i))
	}
	recvWant(t, slow, realtime.Event{Topic: "user:a", Kind: realtime.KindResync})
	requireEmpty(t, slow)
	publish(t, m, ev("user:a", "K", n))
	recvWant(t, slow, ev("user:a", "K", n))
	recvWant(t, fast, ev("user:a", "K", n))
}

// settle returns once b has offered its subscribers every event published
// before: a marker published now, on a topic of its own, has arrived. Each
// broker delivers the events of one process in order, whatever their topic.
func settle(t *testing.T, b realtime.Broker) {
	t.Helper()
	ts := topic("settle")
	requireNothingMore(t, b, ts, subscribe(t, b, ts))
}

// TestBrokerOverflowResyncs: a subscriber that reads nothing while more
// events come than it holds finds, once it reads, the first events and
// then a RESYNC, with no later event to bring it; it is then caught up.
func TestBrokerOverflowResyncs(t *testing.T) {
	eachBroker(t, func(t *testing.T, b testBroker) {
		ta := topic("a")
		ch := subscribe(t, b, ta)
		const n = 3 * realtime.SubscriptionBuffer
		for i := range n {
			publish(t, b, ev(ta, "K", i))
		}
		settle(t, b)
		if d, want := b.Dropped(), uint64(n-realtime.SubscriptionBuffer); d != want {
			t.Fatalf("Dropped() = %d, want %d", d, want)
		}
		for i := range realtime.SubscriptionBuffer {
			recvWant(t, ch, ev(ta, "K", i))
		}
		recvWant(t, ch, realtime.Event{Topic: ta, Kind: realtime.KindResync})
		requireNothingMore(t, b, ta, ch)
	})
}

// TestMemoryResyncWhenFull: a RESYNC sent to a full subscriber (after a
// reconnect, say) comes once it has read what it holds, and only one.
func TestMemoryResyncWhenFull(t *testing.T) {
	m := newMemory(t)
	ch := subscribe(t, m, "user:a")
	for i := range realtime.SubscriptionBuffer {
		publish(t, m, ev("user:a", "K", i))
	}
	m.ResyncAll()
	m.ResyncAll()
	publish(t, m, ev("user:a", "K", realtime.SubscriptionBuffer)) // dropped: the RESYNC queued covers it
	for i := range realtime.SubscriptionBuffer {
		recvWant(t, ch, ev("user:a", "K", i))
	}
	recvWant(t, ch, realtime.Event{Topic: "user:a", Kind: realtime.KindResync})
	requireNothingMore(t, m, "user:a", ch)
	if d := m.Dropped(); d != 1 {
		t.Fatalf("Dropped() = %d, want 1 (the event, not the RESYNCs)", d)
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
