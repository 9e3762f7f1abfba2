package realtime_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jobsphere/jobsphere/realtime"
	"github.com/jobsphere/jobsphere/realtime/natstest"
)

// natsReplica is one simulated server process on NATS: its own
// connection, its own broker.
type natsReplica struct {
	broker *realtime.NATS
	logs   *logBuffer
}

func newNATS(t *testing.T, url string) *natsReplica {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := realtime.NewNATS(url, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close broker: %v", err)
		}
		if t.Failed() {
			t.Logf("the broker's log:\n%s", logs)
		}
	})
	return &natsReplica{broker: b, logs: logs}
}

// rawNATS is a plain connection, to send what no broker would.
func rawNATS(t *testing.T, url string) *nats.Conn {
	t.Helper()
	c, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// recvSkipping returns once want arrives on ch, failing if anything else
// but the skippable events comes first.
func recvSkipping(t *testing.T, ch <-chan realtime.Event, want realtime.Event, skippable ...realtime.Event) {
	t.Helper()
next:
	for {
		got := recv(t, ch)
		if equal(got, want) {
			return
		}
		for _, s := range skippable {
			if equal(got, s) {
				continue next
			}
		}
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func resync(topic string) realtime.Event {
	return realtime.Event{Topic: topic, Kind: realtime.KindResync}
}

// waitFor polls cond until it holds, failing after guard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within %s", what, guard)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNATSSubject(t *testing.T) {
	for topic, want := range map[string]string{
		"user:usr_01JABCdef-9": "jobsphere.events.user.usr_01JABCdef-9",
		"admins":               "jobsphere.events.admins",
		"a.b":                  "jobsphere.events.a%2Eb",
		"a b*>":                "jobsphere.events.a%20b%2A%3E",
		"user:":                "jobsphere.events.user.%",
		"%":                    "jobsphere.events.%25",
		"é":                    "jobsphere.events.%C3%A9",
	} {
		if got := realtime.NATSSubject(topic); got != want {
			t.Errorf("NATSSubject(%q) = %q, want %q", topic, got, want)
		}
	}
}

// TestNATSAcrossReplicas: two brokers on one NATS server deliver each
// other's events, after commit and in order, and nothing else.
func TestNATSAcrossReplicas(t *testing.T) {
	url := natstest.Require(t)
	client := openSQLite(t)
	a, b := newNATS(t, url), newNATS(t, url)
	tp := topic("x")

	onA := subscribe(t, a.broker, tp)
	onB := subscribe(t, b.broker, tp)
	otherOnA := subscribe(t, a.broker, topic("other"))

	// Commit: delivered on both replicas, in order, after the commit.
	tx := txWith(t, client, b.broker, ev(tp, "DEPOSIT_SUCCEEDED", 1), ev(tp, "DEPOSIT_SUCCEEDED", 2))
	// Sent outside the transaction, this one overtakes the transaction's.
	publish(t, b.broker, ev(tp, "BEFORE_COMMIT", 0))
	for _, ch := range []<-chan realtime.Event{onA, onB} {
		recvWant(t, ch, ev(tp, "BEFORE_COMMIT", 0))
	}
	commit(t, tx)
	for _, ch := range []<-chan realtime.Event{onA, onB} {
		recvWant(t, ch, ev(tp, "DEPOSIT_SUCCEEDED", 1))
		recvWant(t, ch, ev(tp, "DEPOSIT_SUCCEEDED", 2))
	}

	// Rollback: nothing.
	if err := txWith(t, client, b.broker, ev(tp, "DEPOSIT_SUCCEEDED", 3)).Rollback(); err != nil {
		t.Fatal(err)
	}
	requireNothingMore(t, b.broker, tp, onA, onB)

	// The other way round.
	publish(t, a.broker, ev(tp, "FROM_A", 0))
	for _, ch := range []<-chan realtime.Event{onA, onB} {
		recvWant(t, ch, ev(tp, "FROM_A", 0))
	}

	// Foreign messages on the topic's subject are logged and skipped: one
	// not JSON, one naming another topic than its subject's.
	raw := rawNATS(t, url)
	for _, payload := range []string{"not json", `{"topic":"` + topic("other") + `","kind":"K"}`} {
		if err := raw.Publish(realtime.NATSSubject(tp), []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "logged twice", func() bool { return strings.Count(a.logs.String(), "ignoring malformed message") == 2 })
	requireNothingMore(t, a.broker, tp, onA, onB)

	// Another topic saw none of it.
	requireNothingMore(t, a.broker, topic("other"), otherOnA)
}

// TestNATSRestart: the NATS server restarts under two replicas; every
// subscriber gets a RESYNC once its replica is back, events flow again,
// and each replica logged the disconnect and the reconnect.
func TestNATSRestart(t *testing.T) {
	srv := natstest.Start(t)
	client := openSQLite(t)
	a, b := newNATS(t, srv.URL), newNATS(t, srv.URL)
	tp, other := topic("x"), topic("other")
	onA := subscribe(t, a.broker, tp)
	otherOnA := subscribe(t, a.broker, other)
	onB := subscribe(t, b.broker, tp)
	publish(t, b.broker, ev(tp, "K", 1))
	recvWant(t, onA, ev(tp, "K", 1))
	recvWant(t, onB, ev(tp, "K", 1))

	srv.Stop()
	waitFor(t, "disconnected", func() bool { return !a.broker.Connected() && !b.broker.Connected() })
	// Committed while NATS is down: it waits in B's reconnect buffer, and
	// reaches the subscribers whose replica is back in time, before or
	// after their RESYNC.
	outage := ev(tp, "DURING_OUTAGE", 0)
	commit(t, txWith(t, client, b.broker, outage))
	srv.Restart()

	recvSkipping(t, onA, resync(tp), outage)
	recvSkipping(t, otherOnA, resync(other))
	recvSkipping(t, onB, resync(tp), outage)
	// Events flow again. (A replica that reconnected late may have
	// resynced on the other's request too, and the buffered event may
	// come now.)
	publish(t, a.broker, ev(tp, "K", 2))
	recvSkipping(t, onA, ev(tp, "K", 2), outage, resync(tp))
	recvSkipping(t, onB, ev(tp, "K", 2), outage, resync(tp))
	for _, r := range []*natsReplica{a, b} {
		logs := r.logs.String()
		for _, want := range []string{`level=WARN msg="realtime: disconnected from NATS`, `level=WARN msg="realtime: reconnected to NATS`} {
			if !strings.Contains(logs, want) {
				t.Errorf("no %s in the log:\n%s", want, logs)
			}
		}
	}
}

// proxy forwards TCP connections to a target; cut drops them all and
// refuses new ones until restore, as a network partition of one replica
// would.
type proxy struct {
	target, addr string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: target, addr: ln.Addr().String(), ln: ln}
	go p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { io.Copy(u, c); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go p.serve(ln)
}

// TestNATSReplicaPartitioned: one replica (B) loses its connection while
// the other (A) keeps its own. Events B wrote just before may be lost for
// A's subscribers too, so when B is back they get a RESYNC. An event B
// cannot send at all (here, with no reconnect buffer) is an error, and B's
// own subscribers get a RESYNC at once.
func TestNATSReplicaPartitioned(t *testing.T) {
	srv := natstest.Start(t)
	px := startProxy(t, strings.TrimPrefix(srv.URL, "nats://"))
	ctx := context.Background()
	client := openSQLite(t)
	restore := realtime.SetNATSReconnectBuffer(-1) // B's publishes fail while it is disconnected
	b := newNATS(t, "nats://"+px.addr)
	restore()
	a := newNATS(t, srv.URL)
	tp := topic("x")
	onA := subscribe(t, a.broker, tp)
	onB := subscribe(t, b.broker, tp)
	publish(t, b.broker, ev(tp, "K", 1))
	recvWant(t, onA, ev(tp, "K", 1))
	recvWant(t, onB, ev(tp, "K", 1))

	// A partition without publishing.
	px.cut()
	waitFor(t, "disconnected", func() bool { return !b.broker.Connected() })
	px.restore(t)
	recvWant(t, onA, resync(tp)) // B asked, A had not resynced since
	recvWant(t, onB, resync(tp)) // B's own reconnect
	requireNothingMore(t, b.broker, tp, onA, onB)

	// A partition while B commits.
	px.cut()
	waitFor(t, "disconnected", func() bool { return !b.broker.Connected() })
	if err := b.broker.Publish(ctx, ev(tp, "LOST", 0)); err == nil {
		t.Fatal("Publish while disconnected without a buffer succeeded")
	}
	commit(t, txWith(t, client, b.broker, ev(tp, "LOST", 1)))
	recvWant(t, onB, resync(tp)) // at once: B knows it lost it
	if !strings.Contains(b.logs.String(), "committed events not sent") {
		t.Errorf("the lost event is not logged:\n%s", b.logs)
	}
	px.restore(t)
	recvWant(t, onA, resync(tp))
	recvWant(t, onB, resync(tp))
	requireNothingMore(t, b.broker, tp, onA, onB)
}

// TestNATSResyncRequests: a replica resyncs on another's request unless
// it resynced since that replica's possible losses; it ignores its own
// and malformed ones.
func TestNATSResyncRequests(t *testing.T) {
	srv := natstest.Start(t)
	a := newNATS(t, srv.URL)
	tp := topic("x")
	onA := subscribe(t, a.broker, tp)
	raw := rawNATS(t, srv.URL)
	request := func(payload string) {
		t.Helper()
		if err := raw.Publish(realtime.NATSResyncSubject, []byte(payload)); err != nil {
			t.Fatal(err)
		}
		if err := raw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// Losses an hour ago, before A started: nothing to do.
	request(`{"replica":"other","lostMillis":3600000}`)
	// Losses up to now: resync.
	request(`{"replica":"other","lostMillis":0}`)
	recvWant(t, onA, resync(tp))
	// A's own, and garbage.
	request(`{"replica":"` + a.broker.ID() + `","lostMillis":0}`)
	request(`garbage`)
	waitFor(t, "logged", func() bool { return strings.Contains(a.logs.String(), "malformed resync request") })
	requireNothingMore(t, a.broker, tp, onA)
}

// TestNATSCloseDrains: events published just before Close still go out
// (as many as a subscription holds unread).
func TestNATSCloseDrains(t *testing.T) {
	url := natstest.Require(t)
	a := newNATS(t, url)
	b, err := realtime.NewNATS(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp := topic("x")
	onA := subscribe(t, a.broker, tp)
	for i := range realtime.SubscriptionBuffer {
		publish(t, b, ev(tp, "K", i))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range realtime.SubscriptionBuffer {
		if got := recv(t, onA); !equal(got, ev(tp, "K", i)) {
			t.Fatalf("event %d: got %+v", i, got)
		}
	}
}

func TestNATSUnreachable(t *testing.T) {
	defer realtime.SetConnectTimeout(300 * time.Millisecond)()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "nats://" + ln.Addr().String()
	ln.Close() // nobody listens there now
	base := runtime.NumGoroutine()
	start := time.Now()
	_, err = realtime.NewNATS(closed, nil)
	if err == nil || !strings.Contains(err.Error(), "no connection to NATS after 300ms") {
		t.Fatalf("NewNATS = %v, want an error saying no connection was made", err)
	}
	if d := time.Since(start); d > guard {
		t.Fatalf("NewNATS took %s", d)
	}
	if _, err := realtime.NewNATS("nats://[::1", nil); err == nil {
		t.Fatal("NewNATS accepted a malformed URL")
	}
	settleGoroutines(t, base)
}

// TestNATSPublishAfterClose: publishing on a closed broker says so.
func TestNATSPublishAfterClose(t *testing.T) {
	b := newNATS(t, natstest.Require(t)).broker
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), ev(topic("x"), "K", 0)); !errors.Is(err, realtime.ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
}

// holdingReceiver, against Receiver's rule, blocks in the Offer of a HOLD
// event until told to go on: the broker's dispatching goroutine is held.
// Once release is closed it blocks no more.
type holdingReceiver struct {
	held, release chan struct{}
}

func (r *holdingReceiver) Offer(ev realtime.Event) bool {
	if ev.Kind != "HOLD" {
		return true // the RESYNCs every subscriber gets
	}
	select {
	case r.held <- struct{}{}:
		<-r.release
	case <-r.release:
	}
	return true
}

func (r *holdingReceiver) Close() {}

// waitHeld returns once a HOLD event holds the broker's dispatch.
func (r *holdingReceiver) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-r.held:
	case <-time.After(guard):
		t.Fatal("the HOLD event was not offered")
	}
}

// requireInboxFull returns once the NATS server has sent to everything
// from published before (in to's inbox, or dropped), and fails unless
// to's inbox is full.
func requireInboxFull(t *testing.T, from, to *natsReplica, inbox int) {
	t.Helper()
	if err := from.broker.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := to.broker.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := to.broker.Inbox(); n != inbox {
		t.Fatalf("the inbox holds %d messages, want it full (%d)", n, inbox)
	}
}

// TestNATSInboxOverflow: while the dispatching goroutine is held, more
// events arrive than the inbox holds; nats.go drops what does not fit and
// reports only the first drop of a subscription's run, however long. Once
// the inbox is delivered, the subscribers get a RESYNC after the last
// event they received, so none of those they missed is silently lost.
func TestNATSInboxOverflow(t *testing.T) {
	const inbox = 8
	defer realtime.SetNATSInbox(inbox)()
	srv := natstest.Start(t) // no other test's messages in the inbox
	a, b := newNATS(t, srv.URL), newNATS(t, srv.URL)
	tx, ty, gate := topic("x"), topic("y"), topic("gate")
	onX, onY := subscribe(t, a.broker, tx), subscribe(t, a.broker, ty)
	hold := &holdingReceiver{held: make(chan struct{}), release: make(chan struct{})}
	if err := a.broker.Receive(t.Context(), gate, hold); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(hold.release) }) // before the brokers close: Close waits for dispatch
	// held runs send while dispatch is held, then lets it go once the
	// NATS server has sent A all of it: in A's inbox or dropped.
	held := func(send func()) {
		t.Helper()
		publish(t, b.broker, ev(gate, "HOLD", 0))
		hold.waitHeld(t)
		send()
		requireInboxFull(t, b, a, inbox)
		hold.release <- struct{}{}
	}

	// A burst: the first events fill the inbox, the rest are dropped.
	const burst = 100
	held(func() {
		for i := range burst {
			publish(t, b.broker, ev(tx, "K", i))
		}
	})
	for i := range inbox {
		recvSkipping(t, onX, ev(tx, "K", i), resync(tx))
	}
	recvWant(t, onX, resync(tx))

	// The inbox fills with another topic's events, and more of X's are
	// dropped: for nats.go, X's run of drops goes on (none of its messages
	// got in since), so it reports nothing.
	held(func() {
		for i := range inbox {
			publish(t, b.broker, ev(ty, "K", i))
		}
		for i := range 5 {
			publish(t, b.broker, ev(tx, "AGAIN", i))
		}
	})
	for i := range inbox {
		recvSkipping(t, onY, ev(ty, "K", i), resync(ty))
	}
	recvWant(t, onY, resync(ty))
	recvWant(t, onX, resync(tx))
	// Nothing else came: the next events are markers, RESYNCs allowed.
	for _, s := range []struct {
		topic string
		ch    <-chan realtime.Event
	}{{tx, onX}, {ty, onY}} {
		publish(t, b.broker, ev(s.topic, "MARKER", 0))
		recvSkipping(t, s.ch, ev(s.topic, "MARKER", 0), resync(s.topic))
	}
}

// TestNATSInboxOverflowUnderSustainedLoad: events are dropped, and then
// the inbox never empties; the subscribers still get their RESYNC once two
// inboxes' worth of messages have gone by since it was full, not only when
// the load ends. Dispatch is stepped by HOLD events placed in the inbox:
// while it is held at one, the inbox is filled up again.
func TestNATSInboxOverflowUnderSustainedLoad(t *testing.T) {
	const inbox = 8
	defer realtime.SetNATSInbox(inbox)()
	srv := natstest.Start(t) // no other test's messages in the inbox
	a, b := newNATS(t, srv.URL), newNATS(t, srv.URL)
	tx, gate := topic("x"), topic("gate")
	onX := subscribe(t, a.broker, tx)
	hold := &holdingReceiver{held: make(chan struct{}), release: make(chan struct{})}
	if err := a.broker.Receive(t.Context(), gate, hold); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(hold.release) }) // before the brokers close: Close waits for dispatch
	// fill publishes X events numbered from, from+1, … and, with hold, a
	// HOLD after them, then returns once the NATS server has sent A all of
	// it: in A's inbox (full now) or dropped.
	fill := func(from, n int, withHold bool) {
		t.Helper()
		for i := range n {
			publish(t, b.broker, ev(tx, "K", from+i))
		}
		if withHold {
			publish(t, b.broker, ev(gate, "HOLD", from))
		}
		requireInboxFull(t, b, a, inbox)
	}
	recvRange := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			recvWant(t, onX, ev(tx, "K", i))
		}
	}

	publish(t, b.broker, ev(gate, "HOLD", -1))
	hold.waitHeld(t)
	// The inbox fills (0–6 and a HOLD); 100–102 are dropped.
	fill(0, inbox-1, true)
	for i := range 3 {
		publish(t, b.broker, ev(tx, "K", 100+i))
	}
	fill(0, 0, false) // flushed: dropped, the inbox still full
	hold.release <- struct{}{}
	hold.waitHeld(t) // at the first HOLD: 8 messages since the inbox was full
	recvRange(0, inbox-1)
	fill(10, inbox-1, true)
	hold.release <- struct{}{}
	hold.waitHeld(t) // at the second: 16, and the inbox is full again
	recvRange(10, 10+inbox-1)
	fill(20, inbox, false)
	hold.release <- struct{}{}
	// The RESYNC comes before the events that were waiting in the inbox.
	recvWant(t, onX, resync(tx))
	recvRange(20, 20+inbox)
	publish(t, b.broker, ev(tx, "MARKER", 0))
	recvWant(t, onX, ev(tx, "MARKER", 0))
}
