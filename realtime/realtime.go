// Package realtime publishes domain events to subscribers — the GraphQL
// subscriptions (wallet updates, deposit completed, offer and job status)
// that reach websocket clients — on every replica of the server.
//
// Two rules hold for every Broker:
//
//   - An event tied to a database transaction (PublishTx) is published only
//     after that transaction commits; a rolled-back transaction publishes
//     nothing.
//   - Events carry ids, not objects. A subscriber re-reads what it shows, so
//     a lost or coalesced event costs a refetch, never a wrong screen, and
//     payloads stay far below PostgreSQL's 8000-byte NOTIFY limit.
//
// Memory is the in-process broker for the embedded SQLite mode. Postgres uses
// LISTEN/NOTIFY so that an event committed on any replica reaches the
// subscribers of every replica; NATS does the same through core NATS, one
// subject per topic, for deployments that outgrow LISTEN/NOTIFY. Both fan
// out locally through a Memory.
//
// Delivery is best effort, by design: every subscription has a buffer of
// SubscriptionBuffer events, and a subscriber that does not keep up loses
// events rather than slowing the publisher or other subscribers (see
// Memory.Dropped). Whenever a subscriber may have missed events — its buffer
// overflowed, the PostgreSQL listener or the NATS connection reconnected,
// another replica could not send what it committed — it is sent an event of
// kind KindResync on its topic, and should refetch what it shows. After an
// overflow that RESYNC follows the events buffered before it, without
// waiting for a later event (see Receiver).
package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jobsphere/jobsphere/ent"
)

// Event is what subscribers receive. Payloads carry ids, not objects: a
// subscriber re-reads what it shows, so NOTIFY's 8000-byte limit is never near.
//
// Subscribers of one topic on one process share the IDs map of an event:
// treat it as read-only.
type Event struct {
	Topic string            `json:"topic"`         // e.g. "user:usr_01J…" — who may see it
	Kind  string            `json:"kind"`          // e.g. "DEPOSIT_SUCCEEDED"
	IDs   map[string]string `json:"ids,omitempty"` // e.g. {"deposit": "dep_…", "transaction": "txn_…"}
}

// KindResync is the kind of the synthetic event a subscriber receives, on
// its own topic and with no ids, when events for it may have been lost
// (a full buffer, a dropped PostgreSQL or NATS connection). Its client should
// refetch everything it shows for that topic.
const KindResync = "RESYNC"

// About is the id, under key, of the object ev tells a feed of one of
// kinds about, and whether the feed takes it; only, when not empty, keeps
// the feed to that one object. A KindResync is about that one object too:
// it may have missed a change of it, so the feed sends it as it is now (a
// feed of every object cannot, and leaves the refetch to walletUpdated's
// RESYNC).
func (ev Event) About(key, only string, kinds ...string) (string, bool) {
	if ev.Kind == KindResync {
		return only, only != ""
	}
	id := ev.IDs[key]
	return id, slices.Contains(kinds, ev.Kind) && (only == "" || id == only)
}

// SubscriptionBuffer is how many undelivered events a subscription holds
// before further events for it are dropped.
const SubscriptionBuffer = 64

// MaxPayload is the largest JSON encoding of an Event a Broker accepts, in
// bytes: PostgreSQL requires NOTIFY payloads shorter than 8000 bytes. Memory
// enforces the same limit so the SQLite mode accepts nothing PostgreSQL
// would refuse.
const MaxPayload = 7999

// Errors returned by the brokers.
var (
	ErrClosed          = errors.New("realtime: broker closed")
	ErrNoTopic         = errors.New("realtime: event has no topic")
	ErrNoKind          = errors.New("realtime: event has no kind")
	ErrPayloadTooLarge = fmt.Errorf("realtime: event larger than %d bytes encoded", MaxPayload)
)

// Broker publishes events and delivers them to the subscribers of their
// topic. Implementations are safe for concurrent use.
type Broker interface {
	// PublishTx arranges for ev to be published if and when tx commits.
	PublishTx(ctx context.Context, tx *ent.Tx, ev Event) error
	// Publish publishes now (for events not tied to a transaction).
	Publish(ctx context.Context, ev Event) error
	// Subscribe delivers the events of one topic until ctx ends; the channel is then closed
	// and everything the subscription held is released (no goroutine or map entry left behind).
	Subscribe(ctx context.Context, topic string) (<-chan Event, error)
	// Receive is Subscribe for a subscriber that holds neither a channel nor
	// a goroutine while it waits: the events of topic are offered to r until
	// ctx ends, and r is then closed.
	Receive(ctx context.Context, topic string, r Receiver) error
	// Subscriptions is how many subscriptions are live on this instance.
	Subscriptions() int
	Close() error
}

// Receiver takes one subscription's events from a Broker (see
// Broker.Receive). Offer runs on the publisher's goroutine, possibly on
// several publishers' at once, and must not block. It queues the event,
// unless the receiver holds SubscriptionBuffer events already: then it
// drops the event, returns false (the broker counts it in Dropped) and
// makes sure a KindResync on the event's topic comes after what it holds,
// queuing one in a slot kept for it beyond the SubscriptionBuffer events
// unless the last event it queued is a KindResync not yet consumed (which,
// consumed after the drop, covers it). So the subscriber learns of a loss
// as soon as it has read what was buffered, without waiting for another
// event; offer applies this rule. Close is called once, when the
// subscription ends, never during an Offer, and no Offer follows it.
type Receiver interface {
	Offer(Event) bool
	Close()
}

// offer is Offer's rule for a receiver holding n events, whose last queued
// is a KindResync not yet consumed if resyncLast: it calls push with what
// to queue, ev or a KindResync, if anything, and reports whether ev was
// queued.
func offer(ev Event, n int, resyncLast bool, push func(Event)) bool {
	if n < SubscriptionBuffer {
		push(ev)
		return true
	}
	if !resyncLast {
		push(resyncEvent(ev.Topic))
	}
	return false
}

func resyncEvent(topic string) Event { return Event{Topic: topic, Kind: KindResync} }

var (
	_ Broker = (*Memory)(nil)
	_ Broker = (*Postgres)(nil)
	_ Broker = (*NATS)(nil)
)

// prepare validates ev and returns it with its own copy of IDs, so that the
// publisher may reuse its map, together with its JSON encoding.
func prepare(ev Event) (Event, []byte, error) {
	if ev.Topic == "" {
		return Event{}, nil, ErrNoTopic
	}
	if ev.Kind == "" {
		return Event{}, nil, ErrNoKind
	}
	ev.IDs = maps.Clone(ev.IDs)
	payload, err := json.Marshal(ev)
	if err != nil {
		return Event{}, nil, fmt.Errorf("realtime: encode event: %w", err)
	}
	if len(payload) > MaxPayload {
		return Event{}, nil, ErrPayloadTooLarge
	}
	return ev, payload, nil
}

// afterCommitKey finds, in the context a commit runs with, the events a
// broker publishes once the commit succeeded.
type afterCommitKey struct{ broker any }

// afterCommit arranges for publish to get, once tx has committed
// successfully, every item (an event, or its encoding) added for broker in
// tx, in the order they were added; after a rollback or a failed commit,
// nothing. Every call adds a
// commit hook; ent nests them, the first registered outermost. The
// outermost hook owns the list the inner ones append to (passed down
// through the commit's context) and publishes it after the real commit
// returned without error.
func afterCommit[T any](tx *ent.Tx, broker any, item T, publish func(context.Context, []T)) {
	key := afterCommitKey{broker}
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			if pending, ok := ctx.Value(key).(*[]T); ok {
				*pending = append(*pending, item)
				return next.Commit(ctx, tx)
			}
			pending := []T{item}
			if err := next.Commit(context.WithValue(ctx, key, &pending), tx); err != nil {
				return err
			}
			publish(context.WithoutCancel(ctx), pending)
			return nil
		})
	})
}
