package realtime

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/jobsphere/jobsphere/ent"
)

// pgChannel is the one NOTIFY channel all events travel on; a notification's
// payload is the JSON encoding of an Event.
const pgChannel = "jobsphere_events"

// notifySQL sends one event; notifyAllSQL sends a list of them, in order.
const (
	notifySQL    = "SELECT pg_notify('" + pgChannel + "', $1)"
	notifyAllSQL = "SELECT pg_notify('" + pgChannel + "', p) FROM unnest($1::text[]) WITH ORDINALITY AS e(p, i) ORDER BY i"
)

// ListenerApplicationName is the application_name of the listener's
// connection (unless the DSN sets one), to find it in pg_stat_activity.
const ListenerApplicationName = "jobsphere-realtime-listener"

// listenTimeout bounds how long NewPostgres waits for its first LISTEN.
var listenTimeout = 10 * time.Second

// Postgres is the Broker for PostgreSQL: events go out with NOTIFY on db
// and come back, on every replica, through one LISTEN connection per process
// that hands them to a local Memory for fan-out.
//
// PublishTx sends the NOTIFY inside the caller's transaction: PostgreSQL
// delivers it only if and when the transaction commits, to the listeners of
// every replica. Within one transaction PostgreSQL delivers identical events
// (same topic, kind and ids) only once, which is harmless for events that
// carry ids.
//
// The listener reconnects by itself after its connection drops, each
// reconnect logged at Warn. Events sent while it was disconnected are lost;
// so after a reconnect every local subscriber receives an event of kind
// KindResync on its own topic, on which its client should refetch what it
// shows. The buffering and dropping rules of Memory apply to subscribers.
type Postgres struct {
	db       *sql.DB
	logger   *slog.Logger
	hub      *Memory
	listener *pq.Listener
	done     chan struct{} // closed when the dispatch loop has ended

	closeOnce sync.Once
}

// NewPostgres starts listening for events on the database at dsn, the same
// database db is connected to, and returns once the listener is in place.
// db is used to publish and is not closed by Close. A nil logger discards.
func NewPostgres(dsn string, db *sql.DB, logger *slog.Logger) (*Postgres, error) {
	if db == nil {
		return nil, errors.New("realtime: NewPostgres needs a *sql.DB")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "realtime")
	p := &Postgres{db: db, logger: logger, hub: NewMemory(), done: make(chan struct{})}

	var (
		errMu   sync.Mutex
		lastErr error // the last failed connection attempt, for the timeout error
	)
	p.listener = pq.NewListener(listenerDSN(dsn), 10*time.Millisecond, time.Second,
		func(ev pq.ListenerEventType, err error) {
			switch ev {
			case pq.ListenerEventConnected:
				logger.Debug("realtime listener connected", "channel", pgChannel)
			case pq.ListenerEventDisconnected:
				logger.Warn("realtime listener disconnected; reconnecting", "err", err)
			case pq.ListenerEventReconnected:
				logger.Warn("realtime listener reconnected; events sent while disconnected are lost, subscribers get "+KindResync,
					"channel", pgChannel)
			case pq.ListenerEventConnectionAttemptFailed:
				errMu.Lock()
				lastErr = err
				errMu.Unlock()
				logger.Warn("realtime listener connection attempt failed", "err", err)
			}
		})
	go p.dispatch()

	listened := make(chan error, 1)
	go func() { listened <- p.listener.Listen(pgChannel) }()
	timer := time.NewTimer(listenTimeout)
	defer timer.Stop()
	select {
	case err := <-listened:
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("realtime: listen on %s: %w", pgChannel, err)
		}
		return p, nil
	case <-timer.C:
		p.Close()
		<-listened // Close ends the waiting Listen
		errMu.Lock()
		defer errMu.Unlock()
		return nil, fmt.Errorf("realtime: listen on %s: no connection after %s (last error: %v)", pgChannel, listenTimeout, lastErr)
	}
}

// dispatch hands each notification to the local subscribers until the
// listener is closed. pq sends a nil notification after a reconnect.
func (p *Postgres) dispatch() {
	defer close(p.done)
	for n := range p.listener.Notify {
		if n == nil {
			p.hub.resyncAll()
			continue
		}
		if n.Channel != pgChannel {
			continue
		}
		var ev Event
		if err := json.Unmarshal([]byte(n.Extra), &ev); err != nil || ev.Topic == "" || ev.Kind == "" {
			p.logger.Warn("realtime: ignoring malformed notification", "payload", n.Extra, "err", err)
			continue
		}
		p.hub.publish(ev)
	}
}

// Subscriptions returns how many subscriptions are live on this replica.
func (p *Postgres) Subscriptions() int { return p.hub.Subscriptions() }

// Publish sends ev now to the subscribers of every replica.
func (p *Postgres) Publish(ctx context.Context, ev Event) error {
	_, payload, err := prepare(ev)
	if err != nil {
		return err
	}
	if _, err := p.db.ExecContext(ctx, notifySQL, string(payload)); err != nil {
		return fmt.Errorf("realtime: publish: %w", err)
	}
	return nil
}

// PublishTx sends ev to the subscribers of every replica once tx has
// committed, never if it rolls back; the events of one transaction go in
// one statement, in order. Not NOTIFY inside tx: PostgreSQL then holds one
// lock for the whole server from the notifying commit's start to its end,
// and every notifying transaction of every replica commits one at a time
// (the bench's money mutations were bound by it). The price: a process that
// dies between its commit and this statement loses those events; clients
// refetch when they reconnect.
func (p *Postgres) PublishTx(_ context.Context, tx *ent.Tx, ev Event) error {
	_, payload, err := prepare(ev)
	if err != nil {
		return err
	}
	afterCommit(tx, p, string(payload), p.notifyAll)
	return nil
}

// notifyAll sends the encoded events a transaction committed. If it
// cannot, the local subscribers are told to refetch.
func (p *Postgres) notifyAll(ctx context.Context, payloads []string) {
	if _, err := p.db.ExecContext(ctx, notifyAllSQL, pq.Array(payloads)); err != nil {
		p.logger.WarnContext(ctx, "realtime: committed events not sent; local subscribers get "+KindResync, "events", len(payloads), "err", err)
		p.hub.resyncAll()
	}
}

// Subscribe delivers the events of topic, from any replica, until ctx ends;
// see Memory.Subscribe.
func (p *Postgres) Subscribe(ctx context.Context, topic string) (<-chan Event, error) {
	return p.hub.Subscribe(ctx, topic)
}

// Receive offers the events of topic, from any replica, to r until ctx
// ends; see Memory.Receive.
func (p *Postgres) Receive(ctx context.Context, topic string, r Receiver) error {
	return p.hub.Receive(ctx, topic, r)
}

// Dropped returns how many events were dropped for slow local subscribers.
func (p *Postgres) Dropped() uint64 { return p.hub.Dropped() }

// Close stops the listener and closes every subscription. It does not close
// the *sql.DB given to NewPostgres.
func (p *Postgres) Close() error {
	var err error
	p.closeOnce.Do(func() {
		if cerr := p.listener.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
		<-p.done
		p.hub.Close()
	})
	return err
}

// listenerDSN names the listener's connection, for pg_stat_activity, unless
// dsn names it already. It accepts both URL and key=value DSNs.
func listenerDSN(dsn string) string {
	const key = "fallback_application_name"
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn
		}
		q := u.Query()
		if q.Has(key) {
			return dsn
		}
		q.Set(key, ListenerApplicationName)
		u.RawQuery = q.Encode()
		return u.String()
	}
	if strings.Contains(dsn, key+"=") {
		return dsn
	}
	return strings.TrimSpace(dsn + " " + key + "=" + ListenerApplicationName)
}
