package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"net"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// Meter counts what the server asks of its database, for the metrics
// (jobsphere_db_statements_total, jobsphere_db_round_trips_total) and the
// load generator's cost per operation.
//
// A statement is every query or exec the driver runs, and every BEGIN,
// COMMIT and ROLLBACK. A round trip, on PostgreSQL, is each time the
// driver sends after having read: the client waits for the server once per
// round trip, whatever the number of messages it sends in one go. SQLite
// runs in the process and has none.
type Meter struct {
	statements, roundTrips atomic.Uint64
}

// Statements is how many statements have run so far.
func (m *Meter) Statements() uint64 { return m.statements.Load() }

// RoundTrips is how many round trips to PostgreSQL have been made so far.
func (m *Meter) RoundTrips() uint64 { return m.roundTrips.Load() }

// Wrap returns an Opener that counts, in m, what the databases it opens run.
func (m *Meter) Wrap(open Opener) Opener {
	return func(dialect string, c driver.Connector) *sql.DB {
		inner := c
		if u, ok := c.(interface{ Unwrap() driver.Connector }); ok {
			inner = u.Unwrap()
		}
		if pc, ok := inner.(*pq.Connector); ok {
			pc.Dialer(meteredDialer{m: m})
		}
		return open(dialect, meteredConnector{Connector: c, m: m})
	}
}

type meteredConnector struct {
	driver.Connector
	m *Meter
}

func (c meteredConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &meteredConn{inner: conn, m: c.m}, nil
}

// meteredConn passes every call to the driver's connection, counting
// statements. Where the driver lacks an optional interface, it answers as
// database/sql expects of a driver without it (driver.ErrSkip, or the
// interface's neutral answer).
type meteredConn struct {
	inner driver.Conn
	m     *Meter
}

var (
	_ driver.ExecerContext      = (*meteredConn)(nil)
	_ driver.QueryerContext     = (*meteredConn)(nil)
	_ driver.ConnBeginTx        = (*meteredConn)(nil)
	_ driver.ConnPrepareContext = (*meteredConn)(nil)
	_ driver.SessionResetter    = (*meteredConn)(nil)
	_ driver.Validator          = (*meteredConn)(nil)
	_ driver.NamedValueChecker  = (*meteredConn)(nil)
	_ driver.Pinger             = (*meteredConn)(nil)
)

func (c *meteredConn) Close() error { return c.inner.Close() }

func (c *meteredConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *meteredConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.m.statements.Add(1)
	var tx driver.Tx
	var err error
	if b, ok := c.inner.(driver.ConnBeginTx); ok {
		tx, err = b.BeginTx(ctx, opts)
	} else {
		tx, err = c.inner.Begin() //nolint:staticcheck // the driver has nothing newer
	}
	if err != nil {
		return nil, err
	}
	return meteredTx{inner: tx, m: c.m}, nil
}

func (c *meteredConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *meteredConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var st driver.Stmt
	var err error
	if p, ok := c.inner.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, query)
	} else {
		st, err = c.inner.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return meteredStmt{Stmt: st, m: c.m}, nil
}

func (c *meteredConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.inner.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip // database/sql prepares instead
	}
	c.m.statements.Add(1)
	return e.ExecContext(ctx, query, args)
}

func (c *meteredConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.inner.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	c.m.statements.Add(1)
	return q.QueryContext(ctx, query, args)
}

func (c *meteredConn) ResetSession(ctx context.Context) error {
	if r, ok := c.inner.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *meteredConn) IsValid() bool {
	if v, ok := c.inner.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *meteredConn) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := c.inner.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return driver.ErrSkip // database/sql's default conversion
}

func (c *meteredConn) Ping(ctx context.Context) error {
	if p, ok := c.inner.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

type meteredTx struct {
	inner driver.Tx
	m     *Meter
}

func (t meteredTx) Commit() error {
	t.m.statements.Add(1)
	return t.inner.Commit()
}

func (t meteredTx) Rollback() error {
	t.m.statements.Add(1)
	return t.inner.Rollback()
}

// meteredStmt counts each execution of a prepared statement. database/sql
// calls the context methods when the driver's statement has them and
// falls back to Exec and Query otherwise.
type meteredStmt struct {
	driver.Stmt
	m *Meter
}

func (s meteredStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.m.statements.Add(1)
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	values, err := namedToValues(args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.Exec(values) //nolint:staticcheck // the driver has nothing newer
}

func (s meteredStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.m.statements.Add(1)
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	values, err := namedToValues(args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.Query(values) //nolint:staticcheck // the driver has nothing newer
}

func namedToValues(args []driver.NamedValue) ([]driver.Value, error) {
	values := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, driver.ErrSkip
		}
		values[i] = a.Value
	}
	return values, nil
}

// meteredDialer dials PostgreSQL as lib/pq's default dialer does and
// counts the round trips made on each connection.
type meteredDialer struct {
	m *Meter
	d net.Dialer
}

func (d meteredDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d meteredDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (d meteredDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	conn, err := d.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &roundTripConn{Conn: conn, m: d.m, read: true}, nil
}

// roundTripConn counts a round trip at the first write after a read. A
// driver connection is used by one goroutine at a time, so its own flag
// needs no lock.
type roundTripConn struct {
	net.Conn
	m    *Meter
	read bool // read since the last write: the next write starts a round trip
}

func (c *roundTripConn) Write(b []byte) (int, error) {
	if c.read {
		c.read = false
		c.m.roundTrips.Add(1)
	}
	return c.Conn.Write(b)
}

func (c *roundTripConn) Read(b []byte) (int, error) {
	c.read = true
	return c.Conn.Read(b)
}
