package realtime

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/jobsphere/jobsphere/ent"
)

// Memory is the in-process Broker, used on its own in the embedded SQLite
// mode and as the local fan-out of Postgres.
//
// Publishing never blocks: each subscription has a buffer of
// SubscriptionBuffer events, and when a subscriber's buffer is full the event
// is dropped for that subscriber alone and counted in Dropped. Its receiver
// then queues a KindResync after the events it holds (see Receiver), so its
// client knows to refetch once it has read them, whether or not more events
// come. Events of one publisher reach a subscriber in the order they were
// published.
type Memory struct {
	mu     sync.RWMutex
	topics map[string]map[*subscription]struct{}
	closed bool

	dropped atomic.Uint64
	live    atomic.Int64 // subscriptions registered and not yet closed
}

type subscription struct {
	topic string
	r     Receiver
	stop  func() bool // unregisters the context.AfterFunc; set under Memory.mu
}

// NewMemory returns an empty in-process broker.
func NewMemory() *Memory {
	return &Memory{topics: make(map[string]map[*subscription]struct{})}
}

// Dropped returns how many events were dropped, since the broker was made,
// because a subscriber's buffer was full.
func (m *Memory) Dropped() uint64 { return m.dropped.Load() }

// Subscriptions returns how many subscriptions are live.
func (m *Memory) Subscriptions() int { return int(m.live.Load()) }

// Publish delivers ev now to the current subscribers of ev.Topic. With no
// subscribers it does nothing.
func (m *Memory) Publish(_ context.Context, ev Event) error {
	ev, _, err := prepare(ev)
	if err != nil {
		return err
	}
	m.publish(ev)
	return nil
}

// PublishTx publishes ev once tx has committed successfully; if tx is rolled
// back, or its commit fails, ev is never published. Events of one
// transaction are published in the order PublishTx was called.
func (m *Memory) PublishTx(_ context.Context, tx *ent.Tx, ev Event) error {
	ev, _, err := prepare(ev)
	if err != nil {
		return err
	}
	afterCommit(tx, m, ev, func(_ context.Context, evs []Event) {
		for _, ev := range evs {
			m.publish(ev)
		}
	})
	return nil
}

// Subscribe delivers the events of topic until ctx ends, when the channel
// is closed and the subscription forgotten. A ctx already ended gives a
// closed channel. While it waits, a subscription holds no goroutine.
func (m *Memory) Subscribe(ctx context.Context, topic string) (<-chan Event, error) {
	return subscribe(ctx, topic, m.Receive)
}

// subscribe is Subscribe made of a broker's Receive: a buffered channel
// as the receiver.
func subscribe(ctx context.Context, topic string, receive func(context.Context, string, Receiver) error) (<-chan Event, error) {
	r := &channelReceiver{ch: make(chan Event, SubscriptionBuffer+1)}
	if err := receive(ctx, topic, r); err != nil {
		return nil, err
	}
	return r.ch, nil
}

// channelReceiver is a subscription's buffered channel, with room for the
// KindResync of an overflow (see Receiver).
type channelReceiver struct {
	mu sync.Mutex // publishers offer concurrently
	ch chan Event
	// resyncLast: the last event sent on ch is a KindResync. offer reads
	// it only when ch holds SubscriptionBuffer events or more, and then,
	// sent last, that RESYNC is still among them.
	resyncLast bool
}

func (r *channelReceiver) Offer(ev Event) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return offer(ev, len(r.ch), r.resyncLast, func(e Event) {
		r.ch <- e // never blocks: offer pushes only while ch has a free slot
		r.resyncLast = e.Kind == KindResync
	})
}

func (r *channelReceiver) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.ch)
}

// Receive offers the events of topic to r until ctx ends, when r is closed
// and the subscription forgotten. A ctx already ended closes r at once.
func (m *Memory) Receive(ctx context.Context, topic string, r Receiver) error {
	if topic == "" {
		return ErrNoTopic
	}
	s := &subscription{topic: topic, r: r}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if ctx.Err() != nil {
		r.Close()
		return nil
	}
	subs := m.topics[topic]
	if subs == nil {
		subs = make(map[*subscription]struct{})
		m.topics[topic] = subs
	}
	subs[s] = struct{}{}
	m.live.Add(1)
	// Registered under the lock: should ctx end right now, the unsubscribe
	// waits for the lock and finds the subscription in place.
	s.stop = context.AfterFunc(ctx, func() { m.unsubscribe(s) })
	return nil
}

// Close closes every subscription; later calls to Subscribe fail with
// ErrClosed and publishing does nothing.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	for _, subs := range m.topics {
		for s := range subs {
			s.stop()
			s.r.Close()
		}
	}
	clear(m.topics)
	m.live.Store(0)
	return nil
}

func (m *Memory) unsubscribe(s *subscription) {
	m.mu.Lock()
	defer m.mu.Unlock()
	subs := m.topics[s.topic]
	if _, ok := subs[s]; !ok {
		return // already closed by Close
	}
	delete(subs, s)
	m.live.Add(-1)
	if len(subs) == 0 {
		delete(m.topics, s.topic)
	}
	s.r.Close()
}

// publish hands ev to the subscribers of its topic without blocking. The
// read lock excludes unsubscribe and Close, which close receivers, while
// still letting publishers run side by side.
func (m *Memory) publish(ev Event) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for s := range m.topics[ev.Topic] {
		if !s.r.Offer(ev) {
			m.dropped.Add(1)
		}
	}
}

// resyncAll sends every subscriber a KindResync event on its own topic. A
// full receiver drops it but has one queued after what it holds already,
// or queues one (see Receiver), so it is not counted in Dropped.
func (m *Memory) resyncAll() {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for topic, subs := range m.topics {
		for s := range subs {
			s.r.Offer(resyncEvent(topic))
		}
	}
}
