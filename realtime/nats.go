package realtime

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jobsphere/jobsphere/ent"
)

// natsSubjectPrefix begins the subject of every topic's events (see
// natsSubject); natsResyncSubject carries no event but a request to every
// replica: resync all your subscribers.
const (
	natsSubjectPrefix = "jobsphere.events."
	natsResyncSubject = "jobsphere.resync"
)

// How the NATS connection behaves; see NATS.
const (
	natsReconnectWait = time.Second      // between reconnect attempts, forever
	natsPingInterval  = 10 * time.Second // a dead server is noticed after 2 unanswered pings
	natsFlushTimeout  = 5 * time.Second  // the longest wait for the server to confirm a new subscription
	natsDrainTimeout  = 5 * time.Second  // the longest Close waits for unsent events to go out
)

// natsInbox is how many messages, of all topics, wait for the replica's
// one dispatching goroutine. It only copies events into subscriptions'
// buffers, without blocking, so the inbox fills only when the process is
// starved. What does not fit is dropped, and once the dispatching
// goroutine has caught up (the inbox is empty), every local subscriber
// gets KindResync, after the events that were queued (see dispatch).
// Tests lower it.
var natsInbox = 1 << 16

// connectTimeout bounds how long NewNATS waits for its first connection.
var connectTimeout = 10 * time.Second

// natsReconnectBuffer is how many bytes of events nats.go keeps while it
// is disconnected (its default, 8 MiB: some 50,000 events); tests change it.
var natsReconnectBuffer = nats.DefaultReconnectBufSize

// NATS is the Broker for deployments that outgrow LISTEN/NOTIFY: events go
// out on core NATS, one subject per topic, and come back, on every replica,
// to a local Memory for fan-out. Each replica subscribes, on its one NATS
// connection, to the subjects of the topics it has local subscribers for:
// the first local subscriber of a topic subscribes to its subject, the last
// one to leave unsubscribes, so the NATS server sends a replica only the
// events someone there listens to, and a subscription is live at the NATS
// server when Subscribe returns.
//
// Unlike Postgres, publishing takes no database lock: PublishTx publishes
// after the transaction committed, and a commit costs PostgreSQL nothing
// for it.
//
// Delivery is best effort, as with every Broker, and never silently lost:
//   - The connection reconnects by itself, forever, every second, each
//     disconnect and reconnect logged at Warn. Events sent while this
//     replica was disconnected may not have reached it, so once it is
//     reconnected (and the NATS server has its subscriptions again) every
//     local subscriber receives an event of kind KindResync.
//   - Events written just before a disconnect was noticed may not have
//     reached the NATS server, for any replica. So a replica that
//     reconnects asks every other one to resync all of its subscribers,
//     and they do, unless they resynced since this replica's disconnect
//     (as after a restart of the NATS server, when every replica
//     reconnects and resyncs anyway: one RESYNC each, not one per replica).
//   - Events published while disconnected wait in nats.go's reconnect
//     buffer (8 MiB, some 50,000 events) and go out on reconnect. An event
//     that cannot be sent at all (the buffer is full, the process is
//     closing) is logged, the local subscribers get KindResync at once,
//     and on reconnect every other replica resyncs, whatever it did since.
//   - Events that reach a replica faster than it hands them on, more than
//     natsInbox of them, are dropped there (logged), and every local
//     subscriber receives KindResync once the replica has caught up:
//     after the events it did receive, and so after every dropped one.
//   - A process that dies between its commit and the publish loses those
//     events, as with Postgres; clients refetch when they reconnect.
//
// Events of one replica reach a subscriber in the order they were
// published; the buffering and dropping rules of Memory apply to
// subscribers.
type NATS struct {
	conn   *nats.Conn
	logger *slog.Logger
	hub    *Memory
	id     string         // this broker's own, to ignore its resync requests
	inbox  chan *nats.Msg // every subscription's messages, in arrival order
	closed chan struct{}  // closed by the connection's ClosedHandler
	done   chan struct{}  // closed when dispatch has ended

	// resyncSub is the subscription to natsResyncSubject, set before
	// dispatch starts; resyncDropped is its Dropped count when dispatch
	// last looked (see resyncIfDropped).
	resyncSub     *nats.Subscription
	resyncDropped int

	mu     sync.Mutex
	topics map[string]*natsTopic
	shut   bool

	// unsent is set when an event could not be handed to nats.go: other
	// replicas' subscribers may have missed it.
	unsent atomic.Bool
	// started is the origin of lastResync: when every local subscriber was
	// last sent KindResync, on the monotonic clock.
	started    time.Time
	lastResync atomic.Int64
	// disconnected is when the connection was last seen to drop; only the
	// connection's callbacks, which run one at a time, use it.
	disconnected time.Time
	closeOnce    sync.Once
}

// natsResync is the payload of a message on natsResyncSubject.
type natsResync struct {
	Replica string `json:"replica"` // the sender's NATS.id
	// LostMillis: the events the sender may have lost were all published
	// at least this many milliseconds before it sent this; 0 means up to
	// now.
	LostMillis int64 `json:"lostMillis"`
}

// natsTopic is the NATS subscription of a topic with local subscribers.
type natsTopic struct {
	sub     *nats.Subscription
	refs    int // local subscribers, live or being set up
	dropped int // sub's Dropped count when dispatch last looked (see resyncIfDropped)
	// ready is closed once the NATS server confirmed sub, or once it is
	// known that it cannot now (then a reconnect's KindResync follows).
	ready chan struct{}
}

// NewNATS connects to the NATS server(s) at url (nats.go's syntax: one URL
// or several, comma-separated) and returns once connected, or an error
// after connectTimeout. A nil logger discards.
func NewNATS(url string, logger *slog.Logger) (*NATS, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "realtime")
	n := &NATS{
		logger: logger, hub: NewMemory(), id: rand.Text(), inbox: make(chan *nats.Msg, natsInbox),
		closed: make(chan struct{}), done: make(chan struct{}), topics: make(map[string]*natsTopic),
		started: time.Now(),
	}
	var (
		connected = make(chan struct{})
		errMu     sync.Mutex
		lastErr   error // the last failed connection attempt, for the timeout error
	)
	conn, err := nats.Connect(url,
		nats.Name("jobsphere"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(natsReconnectWait),
		nats.ReconnectBufSize(natsReconnectBuffer),
		nats.PingInterval(natsPingInterval),
		nats.MaxPingsOutstanding(2),
		nats.DrainTimeout(natsDrainTimeout),
		nats.ConnectHandler(func(c *nats.Conn) {
			logger.Debug("realtime: connected to NATS", "server", c.ConnectedUrlRedacted())
			close(connected)
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			errMu.Lock()
			lastErr = err
			errMu.Unlock()
			logger.Warn("realtime: NATS connection attempt failed", "err", err)
		}),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			n.disconnected = time.Now()
			if c.IsClosed() || c.IsDraining() {
				return // Close
			}
			logger.Warn("realtime: disconnected from NATS; reconnecting", "err", err)
		}),
		nats.ReconnectHandler(n.reconnected),
		nats.ErrorHandler(n.asyncError),
		nats.ClosedHandler(func(*nats.Conn) { close(n.closed) }),
	)
	if err != nil {
		return nil, fmt.Errorf("realtime: connect to NATS: %w", err)
	}
	n.conn = conn
	n.resyncSub, err = conn.ChanSubscribe(natsResyncSubject, n.inbox)
	go n.dispatch()
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("realtime: subscribe to %s: %w", natsResyncSubject, err)
	}
	timer := time.NewTimer(connectTimeout)
	defer timer.Stop()
	select {
	case <-connected:
		if err := conn.FlushTimeout(natsFlushTimeout); err != nil {
			n.Close()
			return nil, fmt.Errorf("realtime: subscribe to %s: %w", natsResyncSubject, err)
		}
		return n, nil
	case <-timer.C:
		errMu.Lock()
		why := lastErr
		errMu.Unlock()
		if why == nil { // no attempt after the first
			why = conn.LastError()
		}
		n.Close()
		return nil, fmt.Errorf("realtime: no connection to NATS after %s (last error: %v)", connectTimeout, why)
	}
}

// natsSubject is the subject of topic's events: natsSubjectPrefix, then
// topic's ":"-separated parts as tokens ("user:usr_1" is
// "jobsphere.events.user.usr_1"). A byte outside [A-Za-z0-9_-] is written
// %XX, and an empty part "%", so every token is valid and no two topics
// share a subject.
func natsSubject(topic string) string {
	var b strings.Builder
	b.Grow(len(natsSubjectPrefix) + len(topic))
	b.WriteString(natsSubjectPrefix)
	for i, part := range strings.Split(topic, ":") {
		if i > 0 {
			b.WriteByte('.')
		}
		if part == "" {
			b.WriteByte('%')
		}
		for j := 0; j < len(part); j++ {
			switch c := part[j]; {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
				b.WriteByte(c)
			default:
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
	}
	return b.String()
}

// dispatch hands each message to the local subscribers until the
// connection is closed. A message nats.go drops finds the inbox full, and
// the inbox stays full until dispatch takes the next one: so the inbox
// holding cap-1 or more after a message means some may have been dropped,
// and once dispatch has caught up (the inbox is empty) resyncIfDropped
// looks, and resyncs after every message dropped so far. nats.go reports
// only the first drop of a run (see asyncError); this covers the rest.
// Under a load that never lets the inbox empty, it looks once two inboxes'
// worth of messages have gone by as well, so that clients are not left
// stale for as long as the load lasts; a drop after that look fills the
// inbox again, and another look follows it.
func (n *NATS) dispatch() {
	defer close(n.done)
	full := false // the inbox was (nearly) full since resyncIfDropped last ran
	since := 0    // messages delivered since full was set
	for {
		select {
		case m := <-n.inbox:
			n.deliver(m)
			pending := len(n.inbox)
			if pending >= cap(n.inbox)-1 && !full {
				full, since = true, 0
			}
			if full {
				since++
			}
			if full && (pending == 0 || since >= 2*cap(n.inbox)) {
				full = false
				n.resyncIfDropped()
			}
		case <-n.closed:
			return
		}
	}
}

func (n *NATS) deliver(m *nats.Msg) {
	if m.Subject == natsResyncSubject {
		n.resyncFor(m.Data)
		return
	}
	var ev Event
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Topic == "" || ev.Kind == "" || natsSubject(ev.Topic) != m.Subject {
		n.logger.Warn("realtime: ignoring malformed message", "subject", m.Subject, "payload", string(m.Data), "err", err)
		return
	}
	n.hub.publish(ev)
}

// resyncFor answers another replica's request to resync: every local
// subscriber gets KindResync unless they all had one since the events the
// sender may have lost. That request was sent after the sender noticed its
// disconnect, so a resync at or after "LostMillis before it arrived" came
// after those events were published, and so after they were committed.
func (n *NATS) resyncFor(payload []byte) {
	var req natsResync
	if err := json.Unmarshal(payload, &req); err != nil || req.Replica == "" {
		n.logger.Warn("realtime: ignoring malformed resync request", "payload", string(payload), "err", err)
		return
	}
	if req.Replica == n.id {
		return
	}
	if lost := time.Since(n.started) - time.Duration(req.LostMillis)*time.Millisecond; req.LostMillis > 0 && time.Duration(n.lastResync.Load()) >= lost {
		n.logger.Debug("realtime: another replica reconnected to NATS; subscribers resynced since", "replica", req.Replica)
		return
	}
	n.logger.Warn("realtime: another replica may have lost events on NATS; subscribers get "+KindResync, "replica", req.Replica)
	n.resyncAll()
}

// resyncIfDropped sends every local subscriber KindResync if a
// subscription dropped messages since the last call. A topic unsubscribed
// meanwhile is not counted: it has no subscribers left to tell.
func (n *NATS) resyncIfDropped() {
	n.mu.Lock()
	lost := newDrops(n.resyncSub, &n.resyncDropped)
	for _, t := range n.topics {
		lost += newDrops(t.sub, &t.dropped)
	}
	n.mu.Unlock()
	if lost > 0 {
		n.logger.Warn("realtime: messages were dropped, the NATS inbox was full; subscribers get "+KindResync, "dropped", lost)
		n.resyncAll()
	}
}

// newDrops returns how many messages sub dropped since it had dropped
// *seen, and sets *seen to its count now.
func newDrops(sub *nats.Subscription, seen *int) int {
	dropped, err := sub.Dropped()
	if err != nil || dropped <= *seen { // err: unsubscribed
		return 0
	}
	lost := dropped - *seen
	*seen = dropped
	return lost
}

// resyncAll sends every local subscriber KindResync, noting when.
func (n *NATS) resyncAll() {
	n.lastResync.Store(int64(time.Since(n.started)))
	n.hub.resyncAll()
}

// reconnected runs after each reconnect, once nats.go has sent the
// subscriptions again: when the server has confirmed them, every local
// subscriber is told to refetch, and every other replica is asked to (see
// resyncFor).
func (n *NATS) reconnected(c *nats.Conn) {
	if err := c.FlushTimeout(natsFlushTimeout); err != nil {
		n.logger.Warn("realtime: NATS did not confirm the subscriptions after reconnecting", "err", err)
	}
	req := natsResync{Replica: n.id, LostMillis: time.Since(n.disconnected).Milliseconds()}
	if n.unsent.Swap(false) {
		req.LostMillis = 0
	}
	payload, _ := json.Marshal(req) // plain strings and numbers: never fails
	if err := c.Publish(natsResyncSubject, payload); err != nil {
		n.unsent.Store(true) // asked again at the next reconnect
	}
	n.logger.Warn("realtime: reconnected to NATS; events sent while disconnected may be lost, subscribers get "+KindResync,
		"server", c.ConnectedUrlRedacted())
	n.resyncAll()
}

// asyncError handles the errors nats.go reports outside any call. A slow
// consumer is the inbox overflowing: events are being dropped. nats.go
// reports it for the first message of a run only, so the RESYNC waits for
// dispatch to catch up (see dispatch): sent now, it could come before
// messages dropped later in the run.
func (n *NATS) asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) {
		subject := ""
		if sub != nil {
			subject = sub.Subject
		}
		n.logger.Warn("realtime: events dropped, the NATS inbox is full; subscribers get "+KindResync+" once it is delivered", "subject", subject)
		return
	}
	n.logger.Warn("realtime: NATS error", "err", err)
}

// Subscriptions returns how many subscriptions are live on this replica.
func (n *NATS) Subscriptions() int { return n.hub.Subscriptions() }

// Dropped returns how many events were dropped for slow local subscribers.
func (n *NATS) Dropped() uint64 { return n.hub.Dropped() }

// Publish sends ev now to the subscribers of every replica.
func (n *NATS) Publish(_ context.Context, ev Event) error {
	ev, payload, err := prepare(ev)
	if err != nil {
		return err
	}
	if err := n.send(natsMessage{natsSubject(ev.Topic), payload}); err != nil {
		return fmt.Errorf("realtime: publish: %w", err)
	}
	return nil
}

// natsMessage is an encoded event and its subject.
type natsMessage struct {
	subject string
	payload []byte
}

// PublishTx sends ev to the subscribers of every replica once tx has
// committed, never if it rolls back; the events of one transaction go in
// order.
func (n *NATS) PublishTx(_ context.Context, tx *ent.Tx, ev Event) error {
	ev, payload, err := prepare(ev)
	if err != nil {
		return err
	}
	afterCommit(tx, n, natsMessage{natsSubject(ev.Topic), payload}, n.publishAll)
	return nil
}

// publishAll sends the events a transaction committed. Those it cannot
// send are logged, and the local subscribers told to refetch.
func (n *NATS) publishAll(ctx context.Context, msgs []natsMessage) {
	var failed int
	var lastErr error
	for _, m := range msgs {
		if err := n.send(m); err != nil {
			failed++
			lastErr = err
		}
	}
	if failed > 0 {
		n.logger.WarnContext(ctx, "realtime: committed events not sent; subscribers get "+KindResync, "events", failed, "err", lastErr)
		n.resyncAll()
	}
}

// send hands m to nats.go, which writes it now or, while disconnected,
// on reconnect. On failure the other replicas are asked to resync once
// this one is reconnected.
func (n *NATS) send(m natsMessage) error {
	err := n.conn.Publish(m.subject, m.payload)
	switch {
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining):
		return ErrClosed
	case err != nil:
		n.unsent.Store(true)
	}
	return err
}

// Subscribe delivers the events of topic, from any replica, until ctx ends;
// see Memory.Subscribe. When it returns, the NATS server has this
// replica's subscription to the topic (unless the connection is down: then
// a KindResync follows the reconnect).
func (n *NATS) Subscribe(ctx context.Context, topic string) (<-chan Event, error) {
	return subscribe(ctx, topic, n.Receive)
}

// Receive offers the events of topic, from any replica, to r until ctx
// ends; see Memory.Receive. The topic's subject is subscribed while it has
// a local receiver.
func (n *NATS) Receive(ctx context.Context, topic string, r Receiver) error {
	if topic == "" {
		return ErrNoTopic
	}
	if ctx.Err() != nil {
		return n.hub.Receive(ctx, topic, r) // closes r at once, or ErrClosed
	}
	if err := n.retain(ctx, topic); err != nil {
		return err
	}
	if err := n.hub.Receive(ctx, topic, r); err != nil {
		n.release(topic)
		return err
	}
	context.AfterFunc(ctx, func() { n.release(topic) })
	return nil
}

// retain counts one more local subscriber of topic, subscribing to its
// subject for the first, and returns once the NATS server has that
// subscription (see natsTopic.ready) or ctx has ended.
func (n *NATS) retain(ctx context.Context, topic string) error {
	n.mu.Lock()
	if n.shut {
		n.mu.Unlock()
		return ErrClosed
	}
	if t, ok := n.topics[topic]; ok {
		t.refs++
		n.mu.Unlock()
		select {
		case <-t.ready:
		case <-ctx.Done():
		}
		return nil
	}
	sub, err := n.conn.ChanSubscribe(natsSubject(topic), n.inbox)
	if err != nil {
		n.mu.Unlock()
		return fmt.Errorf("realtime: subscribe to %s: %w", topic, err)
	}
	t := &natsTopic{sub: sub, refs: 1, ready: make(chan struct{})}
	n.topics[topic] = t
	n.mu.Unlock()
	defer close(t.ready)
	if !n.conn.IsConnected() {
		return nil // sent on reconnect, followed by a KindResync
	}
	if err := n.conn.FlushTimeout(natsFlushTimeout); err != nil {
		n.logger.Warn("realtime: NATS did not confirm a subscription", "topic", topic, "err", err)
	}
	return nil
}

// release counts one local subscriber of topic less, unsubscribing from
// its subject after the last.
func (n *NATS) release(topic string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := n.topics[topic]
	if t == nil {
		return // the broker was closed meanwhile
	}
	if t.refs--; t.refs > 0 {
		return
	}
	delete(n.topics, topic)
	if err := t.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		n.logger.Warn("realtime: NATS unsubscribe failed", "topic", topic, "err", err)
	}
}

// Close sends what is still buffered (waiting up to natsDrainTimeout),
// closes the connection and then every subscription; later calls to
// Subscribe fail with ErrClosed and publishing fails. Events still
// buffered while disconnected are lost, and logged.
func (n *NATS) Close() error {
	var err error
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.shut = true
		clear(n.topics)
		n.mu.Unlock()
		if buffered, _ := n.conn.Buffered(); !n.conn.IsConnected() && buffered > 0 {
			n.logger.Warn("realtime: closing while disconnected from NATS; buffered events are lost", "bytes", buffered)
		}
		if derr := n.conn.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionReconnecting) && !errors.Is(derr, nats.ErrConnectionClosed) {
			err = fmt.Errorf("realtime: drain NATS connection: %w", derr)
			n.conn.Close()
		}
		<-n.closed
		<-n.done
		n.hub.Close()
	})
	return err
}
