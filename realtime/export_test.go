package realtime

import "time"

// TopicCount returns how many topics have subscribers.
func (m *Memory) TopicCount() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.topics)
}

// TopicCount returns how many topics have local subscribers.
func (p *Postgres) TopicCount() int { return p.hub.TopicCount() }

// SetListenTimeout changes how long NewPostgres waits for its first LISTEN
// until the test ends; tests using it must not run in parallel.
func SetListenTimeout(d time.Duration) (restore func()) {
	old := listenTimeout
	listenTimeout = d
	return func() { listenTimeout = old }
}

// ListenerDSN exposes listenerDSN.
var ListenerDSN = listenerDSN

// TopicCount returns how many topics have local subscribers.
func (n *NATS) TopicCount() int { return n.hub.TopicCount() }

// SubjectCount returns how many topic subjects the broker subscribes to on
// NATS.
func (n *NATS) SubjectCount() int { return n.conn.NumSubscriptions() - 1 } // less natsResyncSubject

// Connected reports whether the broker's NATS connection is up.
func (n *NATS) Connected() bool { return n.conn.IsConnected() }

// ID is the broker's id in its resync requests.
func (n *NATS) ID() string { return n.id }

// NATSSubject exposes natsSubject.
var NATSSubject = natsSubject

// NATSResyncSubject exposes natsResyncSubject.
const NATSResyncSubject = natsResyncSubject

// SetConnectTimeout changes how long NewNATS waits for its first
// connection until the test ends; tests using it must not run in parallel.
func SetConnectTimeout(d time.Duration) (restore func()) {
	old := connectTimeout
	connectTimeout = d
	return func() { connectTimeout = old }
}

// SetNATSReconnectBuffer changes the reconnect buffer of the NATS brokers
// made until restore is called (-1: none, publishing while disconnected
// fails).
func SetNATSReconnectBuffer(bytes int) (restore func()) {
	old := natsReconnectBuffer
	natsReconnectBuffer = bytes
	return func() { natsReconnectBuffer = old }
}

// ResyncAll exposes resyncAll.
func (m *Memory) ResyncAll() { m.resyncAll() }

// SetNATSInbox changes the inbox size of the NATS brokers made until
// restore is called.
func SetNATSInbox(messages int) (restore func()) {
	old := natsInbox
	natsInbox = messages
	return func() { natsInbox = old }
}

// Flush returns once the NATS server answered a ping on the broker's
// connection: every message it sent the broker before has been put in the
// inbox or dropped.
func (n *NATS) Flush() error { return n.conn.Flush() }

// Inbox returns how many messages wait in the inbox.
func (n *NATS) Inbox() int { return len(n.inbox) }
